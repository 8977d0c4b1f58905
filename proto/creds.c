/* see creds.h */
#include "proto/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/nkey.h"

#define MARKER_DASHES_MIN 3
#define MARKER_DASHES_MAX 6

enum label {
    LABEL_JWT,
    LABEL_SEED,
};

static const struct span labels[] = {
    [LABEL_JWT] = SPAN_LIT("NATS USER JWT"),
    [LABEL_SEED] = SPAN_LIT("USER NKEY SEED"),
};

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_blank(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

static int is_b64url(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_b32(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

/* header.payload.signature, each segment non-empty base64url. */
static int jwt_shaped(struct span t)
{
    size_t seg = 0, dots = 0;

    for (size_t i = 0; i < t.n; i++) {
        if (t.p[i] == '.') {
            if (seg == 0 || ++dots > 2)
                return 0;
            seg = 0;
        } else if (is_b64url(t.p[i])) {
            seg++;
        } else {
            return 0;
        }
    }
    return dots == 2 && seg > 0;
}

static int seed_shaped(struct span t)
{
    if (t.n != NKEY_SEED_LEN || t.p[0] != 'S')
        return 0;
    for (size_t i = 0; i < t.n; i++)
        if (!is_b32(t.p[i]))
            return 0;
    return 1;
}

static size_t count_dashes(struct span s, size_t from)
{
    size_t n = 0;
    while (from + n < s.n && s.p[from + n] == '-')
        n++;
    return n;
}

/*
 * A marker is DASHES ("BEGIN " | "END ") LABEL DASHES and nothing else
 * (the line is already trimmed). Returns 0 and sets *begin / *label, or
 * CREDS_ERR_MARKER / CREDS_ERR_LABEL.
 */
static int parse_marker(struct span line, int *begin, enum label *label)
{
    static const struct span kw_begin = SPAN_LIT("BEGIN ");
    static const struct span kw_end = SPAN_LIT("END ");
    size_t lead = count_dashes(line, 0), tail = 0, pos;
    struct span rest, name;

    if (lead < MARKER_DASHES_MIN || lead > MARKER_DASHES_MAX)
        return CREDS_ERR_MARKER;
    while (tail < line.n - lead && line.p[line.n - 1 - tail] == '-')
        tail++;
    if (tail < MARKER_DASHES_MIN || tail > MARKER_DASHES_MAX)
        return CREDS_ERR_MARKER;
    pos = lead;
    rest = span_make(line.p + pos, line.n - lead - tail);
    if (rest.n >= kw_begin.n && span_eq(span_make(rest.p, kw_begin.n), kw_begin)) {
        *begin = 1;
        name = span_make(rest.p + kw_begin.n, rest.n - kw_begin.n);
    } else if (rest.n >= kw_end.n && span_eq(span_make(rest.p, kw_end.n), kw_end)) {
        *begin = 0;
        name = span_make(rest.p + kw_end.n, rest.n - kw_end.n);
    } else {
        return CREDS_ERR_MARKER;
    }
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        if (span_eq(name, labels[i])) {
            *label = (enum label)i;
            return 0;
        }
    }
    return CREDS_ERR_LABEL;
}

/*
 * NUL, C0 controls other than TAB/LF/CR, and DEL mark a binary file; a CR
 * is only accepted as part of a CRLF line end (or as the very last byte).
 */
static int check_bytes(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (c == '\r') {
            if (i + 1 < len && buf[i + 1] != '\n')
                return CREDS_ERR_BINARY;
        } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
            return CREDS_ERR_BINARY;
        }
    }
    return 0;
}

enum state {
    ST_OUTSIDE,
    ST_TOKEN, /* after BEGIN: the token line */
    ST_END,   /* after the token: the END line */
};

int creds_parse(struct creds *c, const uint8_t *buf, size_t len)
{
    static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};
    struct span tok[2] = {{NULL, 0}, {NULL, 0}};
    struct span only = {NULL, 0};
    enum state st = ST_OUTSIDE;
    enum label cur = LABEL_JWT;
    size_t nonblank = 0, pos = 0;
    int rc;

    memset(c, 0, sizeof(*c));
    if (len > CREDS_FILE_MAX)
        return CREDS_ERR_TOO_LARGE;
    if ((rc = check_bytes(buf, len)) != 0)
        return rc;
    if (len >= sizeof(bom) && memcmp(buf, bom, sizeof(bom)) == 0)
        pos = sizeof(bom);

    while (pos < len) {
        const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        struct span line = span_make(buf + pos, end - pos);
        int begin;
        enum label lab;

        pos = nl ? end + 1 : len;
        if (line.n > 0 && line.p[line.n - 1] == '\r')
            line.n--;
        line = trim(line);

        switch (st) {
        case ST_OUTSIDE:
            if (line.n == 0)
                continue;
            nonblank++;
            if (line.p[0] != '-') {
                only = line; /* free text, or the bare seed */
                continue;
            }
            if ((rc = parse_marker(line, &begin, &lab)) != 0)
                return rc;
            if (!begin)
                return CREDS_ERR_MARKER;
            if (tok[lab].p != NULL)
                return CREDS_ERR_DUPLICATE;
            cur = lab;
            st = ST_TOKEN;
            break;
        case ST_TOKEN:
            if (cur == LABEL_JWT ? !jwt_shaped(line) : !seed_shaped(line))
                return cur == LABEL_JWT ? CREDS_ERR_JWT : CREDS_ERR_SEED;
            tok[cur] = line;
            st = ST_END;
            break;
        case ST_END:
            if (line.n == 0 || line.p[0] != '-')
                return CREDS_ERR_MARKER;
            if ((rc = parse_marker(line, &begin, &lab)) != 0)
                return rc;
            if (begin)
                return CREDS_ERR_MARKER;
            if (lab != cur)
                return CREDS_ERR_LABEL;
            st = ST_OUTSIDE;
            break;
        }
    }
    if (st != ST_OUTSIDE)
        return CREDS_ERR_UNTERMINATED;

    if (tok[LABEL_JWT].p == NULL && tok[LABEL_SEED].p == NULL) {
        if (nonblank == 0)
            return CREDS_ERR_EMPTY;
        if (nonblank > 1)
            return CREDS_ERR_NO_JWT;
        if (!seed_shaped(only))
            return CREDS_ERR_SEED;
        c->kind = CREDS_KIND_SEED;
        c->seed = only;
        return 0;
    }
    if (tok[LABEL_JWT].p == NULL)
        return CREDS_ERR_NO_JWT;
    if (tok[LABEL_SEED].p == NULL)
        return CREDS_ERR_NO_SEED;
    c->kind = CREDS_KIND_USER;
    c->jwt = tok[LABEL_JWT];
    c->seed = tok[LABEL_SEED];
    return 0;
}

/*
 * Reads at most cap bytes plus one (to tell "exactly cap" from "larger").
 * Returns the byte count or -errno.
 */
static ssize_t read_capped(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;

    while (got <= cap) {
        ssize_t n = read(fd, buf + got, cap + 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int creds_file_load(struct creds_file *f, const char *path)
{
    struct stat st;
    ssize_t n;
    int fd, rc;

    memset(f, 0, sizeof(*f));
    /* sodium_malloc needs the page size sodium_init records. */
    if (sodium_init() < 0)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto err1;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = CREDS_ERR_NOT_FILE;
        goto err1;
    }
    if (st.st_size > CREDS_FILE_MAX) {
        rc = CREDS_ERR_TOO_LARGE;
        goto err1;
    }
    /* Sized for the cap, not st_size: the file may change while read. */
    if ((f->buf = sodium_malloc(CREDS_FILE_MAX + 1)) == NULL) {
        rc = -ENOMEM;
        goto err1;
    }
    if ((n = read_capped(fd, f->buf, CREDS_FILE_MAX)) < 0) {
        rc = (int)n;
        goto err2;
    }
    if ((size_t)n > CREDS_FILE_MAX) {
        rc = CREDS_ERR_TOO_LARGE;
        goto err2;
    }
    f->len = (size_t)n;
    if ((rc = creds_parse(&f->creds, f->buf, f->len)) != 0)
        goto err2;
    close(fd);
    return 0;

err2:
    creds_file_free(f);
err1:
    close(fd);
    return rc;
}

void creds_file_free(struct creds_file *f)
{
    /* sodium_free zeroes the whole allocation before unmapping it. */
    if (f->buf != NULL)
        sodium_free(f->buf);
    memset(f, 0, sizeof(*f));
}

const char *creds_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CREDS_ERR_TOO_LARGE:
        return "creds: file too large";
    case CREDS_ERR_BINARY:
        return "creds: control character or stray carriage return";
    case CREDS_ERR_MARKER:
        return "creds: malformed or misplaced BEGIN/END marker";
    case CREDS_ERR_LABEL:
        return "creds: unknown block label or mismatched END";
    case CREDS_ERR_DUPLICATE:
        return "creds: block appears twice";
    case CREDS_ERR_UNTERMINATED:
        return "creds: file ends inside a block";
    case CREDS_ERR_JWT:
        return "creds: JWT block does not hold a JWT";
    case CREDS_ERR_SEED:
        return "creds: not an nkey seed";
    case CREDS_ERR_NO_JWT:
        return "creds: no NATS USER JWT block";
    case CREDS_ERR_NO_SEED:
        return "creds: no USER NKEY SEED block";
    case CREDS_ERR_EMPTY:
        return "creds: file is empty";
    case CREDS_ERR_NOT_FILE:
        return "creds: not a regular file";
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "creds: unknown error";
}
