/*
 * tests/test_creds.c — .creds and bare seed parsing, and the file loader.
 *
 * Every parse goes through guarded(): the input is copied so that its last
 * byte sits right before a PROT_NONE page, so any read past the end faults
 * at once, sanitizer or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/creds.h"
#include "proto/nkey.h"

/* Independently derived vector, see test_nkey.c. */
#define SEED "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
#define PUB "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"
/* Shaped like a JWT; the parser does not verify the signature. */
#define JWT "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUIyIn0.c2ln-_9"

#define CREDS_STD                                                                                  \
    "-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------\n\n"                    \
    "************************* IMPORTANT *************************\n"                              \
    "Keep the seed below secret; it proves the identity above.\n\n"                                \
    "-----BEGIN USER NKEY SEED-----\n" SEED "\n------END USER NKEY SEED------\n\n"                 \
    "*************************************************************\n"

struct guard {
    uint8_t *map;
    size_t maplen;
};

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Copies n bytes so that they end exactly at a PROT_NONE page. */
static const uint8_t *guarded(struct guard *g, const void *src, size_t n)
{
    size_t ps = page_size();
    size_t data_pages = (n + ps - 1) / ps;
    uint8_t *start;

    if (data_pages == 0)
        data_pages = 1;
    g->maplen = (data_pages + 1) * ps;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    assert_int_equal(mprotect(g->map + data_pages * ps, ps, PROT_NONE), 0);
    start = g->map + data_pages * ps - n;
    memcpy(start, src, n);
    return start;
}

static void unguard(struct guard *g)
{
    munmap(g->map, g->maplen);
}

static int span_in(struct span s, const uint8_t *buf, size_t len)
{
    return s.p >= buf && s.n <= len && (size_t)(s.p - buf) <= len - s.n;
}

/* Parses text (n bytes); on success checks the spans lie inside it. */
static int parse_n(struct creds *c, const char *text, size_t n)
{
    struct guard g;
    const uint8_t *buf = guarded(&g, text, n);
    int rc = creds_parse(c, buf, n);

    if (rc == 0) {
        assert_true(span_in(c->seed, buf, n));
        assert_int_equal(c->seed.n, NKEY_SEED_LEN);
        if (c->kind == CREDS_KIND_USER)
            assert_true(span_in(c->jwt, buf, n));
        else
            assert_null(c->jwt.p);
        /* Rebase spans onto the caller's text before the mapping goes. */
        c->seed.p = (const uint8_t *)text + (c->seed.p - buf);
        if (c->jwt.p)
            c->jwt.p = (const uint8_t *)text + (c->jwt.p - buf);
    } else {
        assert_int_equal(c->kind, CREDS_KIND_NONE);
        assert_null(c->seed.p);
        assert_null(c->jwt.p);
    }
    unguard(&g);
    return rc;
}

static int parse(struct creds *c, const char *text)
{
    return parse_n(c, text, strlen(text));
}

static void expect_user(const char *text)
{
    struct creds c;
    assert_int_equal(parse(&c, text), 0);
    assert_int_equal(c.kind, CREDS_KIND_USER);
    assert_true(span_eq(c.jwt, SPAN_LIT(JWT)));
    assert_true(span_eq(c.seed, SPAN_LIT(SEED)));
}

static void expect_err(const char *text, int err)
{
    struct creds c;
    assert_int_equal(parse(&c, text), err);
}

static void test_standard(void **state)
{
    (void)state;
    expect_user(CREDS_STD);
}

/* Seed block first, no surrounding text, no final newline. */
static void test_layout_variants(void **state)
{
    (void)state;
    expect_user("-----BEGIN USER NKEY SEED-----\n" SEED "\n------END USER NKEY SEED------\n"
                "-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------");
    expect_user("-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------\n"
                "-----BEGIN USER NKEY SEED-----\n" SEED "\n------END USER NKEY SEED------");
    /* Indentation and trailing blanks around every line. */
    expect_user("  -----BEGIN NATS USER JWT-----  \n\t" JWT "\t\n ------END NATS USER JWT------\n"
                "\t-----BEGIN USER NKEY SEED----- \n " SEED
                " \n------END USER NKEY SEED------\t\n");
    /* UTF-8 byte-order mark, UTF-8 free text. */
    expect_user("\xef\xbb\xbf" CREDS_STD "caf\xc3\xa9\n");
}

static void test_crlf(void **state)
{
    char buf[2048];
    size_t o = 0;
    static const char std[] = CREDS_STD;
    (void)state;

    for (size_t i = 0; i < sizeof(std) - 1; i++) {
        if (std[i] == '\n')
            buf[o++] = '\r';
        buf[o++] = std[i];
    }
    buf[o] = '\0';
    expect_user(buf);
    /* Without the final line end, the last CR is at the very end. */
    buf[o - 1] = '\0';
    expect_user(buf);
    /* Mixed line ends. */
    expect_user("-----BEGIN NATS USER JWT-----\r\n" JWT "\n------END NATS USER JWT------\r\n"
                "-----BEGIN USER NKEY SEED-----\n" SEED "\r\n------END USER NKEY SEED------\n");
}

/* Every marker accepts 3..6 dashes on each side, independently. */
static void test_dash_counts(void **state)
{
    static const char *const word[4] = {"BEGIN NATS USER JWT", "END NATS USER JWT",
                                        "BEGIN USER NKEY SEED", "END USER NKEY SEED"};
    static const char dashes[] = "--------";
    (void)state;

    for (int m = 0; m < 4; m++) {
        for (int lead = 2; lead <= 7; lead++) {
            for (int tail = 2; tail <= 7; tail++) {
                char mk[4][64], text[1024];
                struct creds c;
                int ok = lead >= 3 && lead <= 6 && tail >= 3 && tail <= 6;
                for (int i = 0; i < 4; i++) {
                    int l = i == m ? lead : 5, t = i == m ? tail : 5;
                    snprintf(mk[i], sizeof(mk[i]), "%.*s%s%.*s", l, dashes, word[i], t, dashes);
                }
                snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n%s\n%s\n", mk[0], JWT, mk[1], mk[2],
                         SEED, mk[3]);
                if (ok)
                    expect_user(text);
                else
                    assert_int_equal(parse(&c, text), CREDS_ERR_MARKER);
            }
        }
    }
}

static void test_bare_seed(void **state)
{
    static const char *const ok[] = {
        SEED, SEED "\n", SEED "\r\n", "\n\n  " SEED "  \r\n\n", "\xef\xbb\xbf" SEED "\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct creds c;
        assert_int_equal(parse(&c, ok[i]), 0);
        assert_int_equal(c.kind, CREDS_KIND_SEED);
        assert_true(span_eq(c.seed, SPAN_LIT(SEED)));
    }
    /* One line that is not a seed. */
    expect_err(PUB "\n", CREDS_ERR_SEED);
    expect_err("sUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y\n", CREDS_ERR_SEED);
    expect_err(SEED "A\n", CREDS_ERR_SEED);
    expect_err("hello\n", CREDS_ERR_SEED);
    /* Two lines, no blocks: neither a bare seed nor a .creds file. */
    expect_err("# my seed\n" SEED "\n", CREDS_ERR_NO_JWT);
    expect_err(SEED "\n" SEED "\n", CREDS_ERR_NO_JWT);
}

static void test_missing_blocks(void **state)
{
    (void)state;
    expect_err("", CREDS_ERR_EMPTY);
    expect_err("\n\r\n  \t\n", CREDS_ERR_EMPTY);
    expect_err("\xef\xbb\xbf", CREDS_ERR_EMPTY);
    expect_err("-----BEGIN USER NKEY SEED-----\n" SEED "\n------END USER NKEY SEED------\n",
               CREDS_ERR_NO_JWT);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------\n",
               CREDS_ERR_NO_SEED);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------\n" SEED "\n",
               CREDS_ERR_NO_SEED);
}

static void test_structure_errors(void **state)
{
    (void)state;
    /* Duplicates. */
    expect_err(CREDS_STD "-----BEGIN NATS USER JWT-----\n" JWT "\n-----END NATS USER JWT-----\n",
               CREDS_ERR_DUPLICATE);
    expect_err(CREDS_STD "-----BEGIN USER NKEY SEED-----\n" SEED "\n-----END USER NKEY SEED-----\n",
               CREDS_ERR_DUPLICATE);
    /* Unterminated, at each step. */
    expect_err("-----BEGIN NATS USER JWT-----\n", CREDS_ERR_UNTERMINATED);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n", CREDS_ERR_UNTERMINATED);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT, CREDS_ERR_UNTERMINATED);
    /* END without BEGIN, mismatched END, BEGIN inside a block. */
    expect_err("------END NATS USER JWT------\n", CREDS_ERR_MARKER);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n------END USER NKEY SEED------\n",
               CREDS_ERR_LABEL);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n-----BEGIN USER NKEY SEED-----\n",
               CREDS_ERR_MARKER);
    /* Blank or extra lines inside a block. */
    expect_err("-----BEGIN NATS USER JWT-----\n\n" JWT "\n------END NATS USER JWT------\n",
               CREDS_ERR_JWT);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n\n------END NATS USER JWT------\n",
               CREDS_ERR_MARKER);
    expect_err("-----BEGIN NATS USER JWT-----\n" JWT "\n" JWT "\n------END NATS USER JWT------\n",
               CREDS_ERR_MARKER);
    expect_err("-----BEGIN NATS USER JWT-----\n------END NATS USER JWT------\n", CREDS_ERR_JWT);
    /* Unknown labels, malformed markers. */
    expect_err("-----BEGIN NATS ACCOUNT JWT-----\n" JWT "\n------END NATS ACCOUNT JWT------\n",
               CREDS_ERR_LABEL);
    expect_err("-----BEGIN nats user jwt-----\n", CREDS_ERR_LABEL);
    expect_err("-----BEGIN  NATS USER JWT-----\n", CREDS_ERR_LABEL);
    expect_err("-----begin NATS USER JWT-----\n", CREDS_ERR_MARKER);
    expect_err("----- BEGIN NATS USER JWT-----\n", CREDS_ERR_MARKER);
    expect_err("-----BEGINNATS USER JWT-----\n", CREDS_ERR_MARKER);
    expect_err("-----BEGIN NATS USER JWT----- x\n", CREDS_ERR_MARKER);
    expect_err("-----BEGIN NATS USER JWT\n", CREDS_ERR_MARKER);
    expect_err("------\n", CREDS_ERR_MARKER);
    expect_err("---------------\n", CREDS_ERR_MARKER);
    expect_err("-\n", CREDS_ERR_MARKER);
    expect_err("# comment\n- a list item\n", CREDS_ERR_MARKER);
}

static void test_token_errors(void **state)
{
    static const char *const bad_jwt[] = {
        "abc",     "a.b",     "a.b.c.d", ".b.c",   "a..c",         "a.b.",
        "a.b.c d", "a+b.c.d", "a.b/c.d", "a.b.c=", "a.b.\xc3\xa9",
    };
    static const char *const bad_seed[] = {
        "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776",   /* 57 */
        "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776YA", /* 59 */
        "suaaaaicamcakbqhbaequcymbuha6earcijrifiwc4mbsgq3dqor4h776y",
        "UUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y",
        "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H7760",
        PUB,
        JWT,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad_jwt) / sizeof(bad_jwt[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n"
                 "-----BEGIN USER NKEY SEED-----\n" SEED "\n------END USER NKEY SEED------\n",
                 bad_jwt[i]);
        expect_err(text, CREDS_ERR_JWT);
    }
    for (size_t i = 0; i < sizeof(bad_seed) / sizeof(bad_seed[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "-----BEGIN NATS USER JWT-----\n" JWT "\n------END NATS USER JWT------\n"
                 "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n",
                 bad_seed[i]);
        expect_err(text, CREDS_ERR_SEED);
    }
}

static void test_binary(void **state)
{
    static const char std[] = CREDS_STD;
    struct creds c;
    char buf[sizeof(std)];
    (void)state;

    /* A control byte anywhere (comment, marker, token) fails the file. */
    for (size_t i = 0; i < sizeof(std) - 1; i += 7) {
        static const char bad[] = {'\0', '\x01', '\x1b', '\x7f', '\v', '\f'};
        for (size_t b = 0; b < sizeof(bad); b++) {
            memcpy(buf, std, sizeof(std));
            buf[i] = bad[b];
            assert_int_equal(parse_n(&c, buf, sizeof(std) - 1), CREDS_ERR_BINARY);
        }
    }
    /* A CR that does not end a line. */
    expect_err("-----BEGIN NATS USER JWT-----\r" JWT "\n", CREDS_ERR_BINARY);
    expect_err(SEED "\r\r\n", CREDS_ERR_BINARY);
    expect_err("\r" SEED, CREDS_ERR_BINARY);
}

/*
 * Every prefix of a valid file: an error until the final END marker has
 * at least its minimum three trailing dashes, success from there on; never
 * an out-of-bounds read (guarded buffers).
 */
static void test_every_prefix(void **state)
{
    static const char std[] = CREDS_STD;
    static const char last_end[] = "------END USER NKEY SEED---";
    size_t ok_from = (size_t)(strstr(std, last_end) - std) + strlen(last_end);
    (void)state;

    for (size_t n = 0; n <= sizeof(std) - 1; n++) {
        struct creds c;
        int rc = parse_n(&c, std, n);
        if (n >= ok_from) {
            assert_int_equal(rc, 0);
            assert_true(span_eq(c.jwt, SPAN_LIT(JWT)));
            assert_true(span_eq(c.seed, SPAN_LIT(SEED)));
        } else {
            assert_int_not_equal(rc, 0);
        }
    }
    /*
     * And every suffix: only dropping one or two of the five leading
     * dashes keeps the file valid; past that the first marker is broken
     * or becomes free text, which leaves the END line without a BEGIN.
     */
    for (size_t s = 1; s < sizeof(std) - 1; s++) {
        struct creds c;
        int rc = parse_n(&c, std + s, sizeof(std) - 1 - s);
        if (s <= 2)
            assert_int_equal(rc, 0);
        else
            assert_int_not_equal(rc, 0);
    }
}

static void test_too_large(void **state)
{
    char *big = malloc(CREDS_FILE_MAX + 2);
    struct creds c;
    (void)state;

    assert_non_null(big);
    memset(big, '#', CREDS_FILE_MAX + 1);
    memcpy(big, SEED "\n", sizeof(SEED));
    big[CREDS_FILE_MAX + 1] = '\0';
    assert_int_equal(creds_parse(&c, (const uint8_t *)big, CREDS_FILE_MAX + 1),
                     CREDS_ERR_TOO_LARGE);
    free(big);
}

/* ------------------------------------------------------------ loader */

struct tmp {
    char dir[256];
    char path[300];
};

static int setup_tmp(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));
    const char *base = getenv("TMPDIR");
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "%s/h8s-creds-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/user.creds", t->dir);
    *state = t;
    return 0;
}

static int teardown_tmp(void **state)
{
    struct tmp *t = *state;
    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static void test_load(void **state)
{
    struct tmp *t = *state;
    struct creds_file f;
    struct nkey k;
    char pub[NKEY_PUBLIC_LEN + 1];

    write_file(t->path, CREDS_STD, strlen(CREDS_STD));
    assert_int_equal(creds_file_load(&f, t->path), 0);
    assert_int_equal(f.len, strlen(CREDS_STD));
    assert_int_equal(f.creds.kind, CREDS_KIND_USER);
    assert_true(span_in(f.creds.jwt, f.buf, f.len));
    assert_true(span_in(f.creds.seed, f.buf, f.len));
    assert_true(span_eq(f.creds.jwt, SPAN_LIT(JWT)));
    assert_int_equal(nkey_from_seed(&k, (const char *)f.creds.seed.p, f.creds.seed.n), 0);
    assert_int_equal(k.type, NKEY_TYPE_USER);
    nkey_public(&k, pub);
    assert_string_equal(pub, PUB);
    nkey_wipe(&k);
    creds_file_free(&f);
    assert_null(f.buf);
    assert_int_equal(f.len, 0);
    assert_null(f.creds.seed.p);
    creds_file_free(&f); /* idempotent */

    write_file(t->path, SEED "\n", sizeof(SEED));
    assert_int_equal(creds_file_load(&f, t->path), 0);
    assert_int_equal(f.creds.kind, CREDS_KIND_SEED);
    assert_true(span_eq(f.creds.seed, SPAN_LIT(SEED)));
    creds_file_free(&f);
}

static void test_load_errors(void **state)
{
    struct tmp *t = *state;
    struct creds_file f;
    char *big;
    char missing[320];

    snprintf(missing, sizeof(missing), "%s/does-not-exist", t->dir);
    assert_int_equal(creds_file_load(&f, missing), -ENOENT);
    assert_null(f.buf);
    assert_int_equal(creds_file_load(&f, t->dir), CREDS_ERR_NOT_FILE);
    assert_int_equal(creds_file_load(&f, "/dev/null"), CREDS_ERR_NOT_FILE);

    write_file(t->path, "-----BEGIN NATS USER JWT-----\n", 30);
    assert_int_equal(creds_file_load(&f, t->path), CREDS_ERR_UNTERMINATED);
    assert_null(f.buf);
    assert_int_equal(f.len, 0);

    /* Exactly at the cap parses; one byte more does not. */
    big = malloc(CREDS_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', CREDS_FILE_MAX + 1);
    memcpy(big, CREDS_STD, strlen(CREDS_STD));
    write_file(t->path, big, CREDS_FILE_MAX);
    assert_int_equal(creds_file_load(&f, t->path), 0);
    assert_int_equal(f.len, CREDS_FILE_MAX);
    creds_file_free(&f);
    write_file(t->path, big, CREDS_FILE_MAX + 1);
    assert_int_equal(creds_file_load(&f, t->path), CREDS_ERR_TOO_LARGE);
    assert_null(f.buf);
    free(big);
}

static void test_strerror(void **state)
{
    static const int codes[] = {
        CREDS_ERR_TOO_LARGE, CREDS_ERR_BINARY,       CREDS_ERR_MARKER, CREDS_ERR_LABEL,
        CREDS_ERR_DUPLICATE, CREDS_ERR_UNTERMINATED, CREDS_ERR_JWT,    CREDS_ERR_SEED,
        CREDS_ERR_NO_JWT,    CREDS_ERR_NO_SEED,      CREDS_ERR_EMPTY,  CREDS_ERR_NOT_FILE,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = creds_strerror(codes[i]);
        assert_non_null(strstr(s, "creds: "));
        assert_null(strstr(s, "unknown error"));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, creds_strerror(codes[j]));
    }
    assert_string_equal(creds_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(creds_strerror(-99999), "creds: unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard),
        cmocka_unit_test(test_layout_variants),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_dash_counts),
        cmocka_unit_test(test_bare_seed),
        cmocka_unit_test(test_missing_blocks),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test_setup_teardown(test_load, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_errors, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
