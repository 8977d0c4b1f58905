/* see flags.h */
#include "core/flags.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/outbuf.h"
#include "core/units.h"

/* Most bytes of a user value echoed in a message, before "...". */
#define ECHO_MAX 64
/* Room for an echo: every byte may become \xNN. */
#define ECHO_BUF (4 * ECHO_MAX + 8)

enum source { SRC_DEFAULT, SRC_ENV, SRC_ARG };

/* Per-flag parse state. */
#define SEEN_ARG 0x1u
#define SEEN_ENV 0x2u

struct parser {
    const struct flags_spec *spec;
    const struct flags_entry *e[FLAGS_MAX];
    unsigned seen[FLAGS_MAX];
    size_t n;
    char *msg;
    size_t msglen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, int code, const char *fmt,
                                                      ...)
{
    va_list ap;
    int k;

    if (p->msg == NULL || p->msglen == 0)
        return code;
    k = snprintf(p->msg, p->msglen, "%s: ", p->spec->prog ? p->spec->prog : "error");
    if (k >= 0 && (size_t)k < p->msglen) {
        va_start(ap, fmt);
        vsnprintf(p->msg + k, p->msglen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return code;
}

/*
 * Makes untrusted text safe inside a one-line message: URL credentials
 * redacted first, then escaped and cut by outbuf_put_escaped.
 */
static const char *echo(char *out, size_t cap, const char *s, size_t n)
{
    char red[ECHO_MAX + 64];
    size_t rn = log_redact_url(s, n, red, sizeof(red));
    struct outbuf o = outbuf_make(out, cap);

    outbuf_put_escaped(&o, red, rn < sizeof(red) ? rn : sizeof(red) - 1, ECHO_MAX);
    outbuf_finish(&o);
    return out;
}

/* --------------------------------------------------------------- values */

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static const char *parse_int(const char *s, int64_t *out)
{
    uint64_t v = 0, limit = (uint64_t)INT64_MAX;
    bool neg = false;
    size_t i = 0;

    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        limit += neg; /* |INT64_MIN| */
        i = 1;
    }
    if (s[i] == '\0')
        return "want an integer";
    for (; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "want an integer";
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return "out of range";
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return NULL;
}

static int find_choice(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcasecmp(choices[i], s) == 0)
            return i;
    }
    return -1;
}

/* "want one of a, b, c" into buf. */
static const char *choices_reason(const char *const *choices, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "want one of");
    for (int i = 0; choices[i] != NULL && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s %s", i ? "," : "", choices[i]);
    return buf;
}

/* The error line for a value rejected for reason `why`. */
static int bad_value(struct parser *p, size_t k, enum source src, const char *val, const char *why)
{
    const struct flags_entry *e = p->e[k];
    char q[ECHO_BUF];

    if (src == SRC_DEFAULT)
        return fail(p, FLAGS_ETABLE, "bad default \"%s\" for --%s: %s",
                    echo(q, sizeof(q), val, strlen(val)), e->name, why);
    if (e->opts & FLAGS_SECRET) {
        if (src == SRC_ENV)
            return fail(p, FLAGS_EUSAGE, "invalid value in $%s (for --%s): %s", e->env, e->name,
                        why);
        return fail(p, FLAGS_EUSAGE, "invalid value for --%s: %s", e->name, why);
    }
    echo(q, sizeof(q), val, strlen(val));
    if (src == SRC_ENV)
        return fail(p, FLAGS_EUSAGE, "invalid value \"%s\" in $%s (for --%s): %s", q, e->env,
                    e->name, why);
    return fail(p, FLAGS_EUSAGE, "invalid value \"%s\" for --%s: %s", q, e->name, why);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int list_add(struct parser *p, size_t k, enum source src, const char *item, size_t n,
                    const char *whole, bool split)
{
    const struct flags_entry *e = p->e[k];
    struct flags_list *l = e->dest.list;
    char *slot = l->buf + l->used;
    union flags_value v;
    const char *why;

    if (n == 0)
        return bad_value(p, k, src, whole, split ? "empty item in list" : "must not be empty");
    if (l->n == FLAGS_LIST_MAX)
        return bad_value(p, k, src, whole, "too many values (at most " STR(FLAGS_LIST_MAX) ")");
    if (n >= sizeof(l->buf) - l->used)
        return bad_value(p, k, src, whole,
                         "values too long (at most " STR(FLAGS_LIST_BUF) " bytes in all)");
    /* Written in place but counted only once the validator accepts it. */
    memcpy(slot, item, n);
    slot[n] = '\0';
    v.str = slot;
    if (e->check != NULL && (why = e->check(&v)) != NULL)
        return bad_value(p, k, src, slot, why);
    l->item[l->n++] = slot;
    l->used += n + 1;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int list_assign(struct parser *p, size_t k, enum source src, const char *text)
{
    const struct flags_entry *e = p->e[k];
    bool split = src == SRC_DEFAULT || (src == SRC_ENV && (e->opts & FLAGS_ENV_COMMA)) ||
                 (src == SRC_ARG && (e->opts & FLAGS_ARG_COMMA));
    const char *s = text;

    if (!split)
        return list_add(p, k, src, text, strlen(text), text, false);
    for (;;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *b = s + n;
        int rc;

        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        rc = list_add(p, k, src, a, (size_t)(b - a), text, true);
        if (rc < 0)
            return rc;
        if (end == NULL)
            return 0;
        s = end + 1;
    }
}

/* Parses text for flag k and stores it. Returns 0 or a FLAGS_E* code. */
static int assign(struct parser *p, size_t k, enum source src, const char *text)
{
    const struct flags_entry *e = p->e[k];
    char why[160];
    const char *reason = NULL;
    union flags_value v;

    switch (e->type) {
    case FLAGS_STRING:
        v.str = text;
        break;
    case FLAGS_BOOL:
        if (parse_bool(text, &v.b) < 0)
            reason = "want true or false (or 1, 0)";
        break;
    case FLAGS_INT:
        reason = parse_int(text, &v.i);
        break;
    case FLAGS_DURATION:
        if (units_parse_duration(text, strlen(text), &v.i, why, sizeof(why)) < 0)
            reason = why;
        break;
    case FLAGS_SIZE:
        if (units_parse_size(text, strlen(text), &v.size, why, sizeof(why)) < 0)
            reason = why;
        break;
    case FLAGS_ENUM:
        v.choice = find_choice(e->choices, text);
        if (v.choice < 0)
            reason = choices_reason(e->choices, why, sizeof(why));
        break;
    case FLAGS_LIST:
        return list_assign(p, k, src, text);
    }
    if (reason == NULL && e->check != NULL)
        reason = e->check(&v);
    if (reason != NULL)
        return bad_value(p, k, src, text, reason);
    switch (e->type) {
    case FLAGS_STRING:
        *e->dest.str = v.str;
        break;
    case FLAGS_BOOL:
        *e->dest.b = v.b;
        break;
    case FLAGS_INT:
    case FLAGS_DURATION:
        *e->dest.i = v.i;
        break;
    case FLAGS_SIZE:
        *e->dest.size = v.size;
        break;
    case FLAGS_ENUM:
        *e->dest.choice = v.choice;
        break;
    case FLAGS_LIST:
        break;
    }
    return 0;
}

static void list_clear(struct flags_list *l)
{
    l->n = 0;
    l->used = 0;
}

/* ---------------------------------------------------------------- tables */

static bool valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '-')
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    }
    return true;
}

static bool dest_set(const struct flags_entry *e)
{
    switch (e->type) {
    case FLAGS_STRING:
        return e->dest.str != NULL;
    case FLAGS_BOOL:
        return e->dest.b != NULL;
    case FLAGS_INT:
    case FLAGS_DURATION:
        return e->dest.i != NULL;
    case FLAGS_SIZE:
        return e->dest.size != NULL;
    case FLAGS_LIST:
        return e->dest.list != NULL;
    case FLAGS_ENUM:
        return e->dest.choice != NULL && e->choices != NULL && e->choices[0] != NULL;
    }
    return false;
}

static int load_tables(struct parser *p)
{
    const struct flags_spec *spec = p->spec;

    for (size_t g = 0; g < spec->ngroups; g++) {
        for (size_t i = 0; i < spec->groups[g].n; i++) {
            const struct flags_entry *e = &spec->groups[g].v[i];
            if (p->n == FLAGS_MAX)
                return fail(p, FLAGS_ETABLE, "more than %d flags", FLAGS_MAX);
            if (!valid_name(e->name) || strcmp(e->name, "help") == 0 || strcmp(e->name, "h") == 0 ||
                strcmp(e->name, "version") == 0) {
                char q[ECHO_BUF];
                const char *name = e->name ? e->name : "";
                return fail(p, FLAGS_ETABLE, "flag table: bad or reserved flag name \"%s\"",
                            echo(q, sizeof(q), name, strlen(name)));
            }
            if ((unsigned)e->type > FLAGS_ENUM || !dest_set(e))
                return fail(p, FLAGS_ETABLE, "flag table: --%s has no usable destination", e->name);
            for (size_t j = 0; j < p->n; j++) {
                if (strcmp(p->e[j]->name, e->name) == 0)
                    return fail(p, FLAGS_ETABLE, "flag table: --%s defined twice", e->name);
            }
            p->seen[p->n] = 0;
            p->e[p->n++] = e;
        }
    }
    return 0;
}

static int apply_defaults(struct parser *p)
{
    for (size_t k = 0; k < p->n; k++) {
        const struct flags_entry *e = p->e[k];
        int rc;
        if (e->type == FLAGS_LIST)
            list_clear(e->dest.list);
        if (e->def != NULL && (rc = assign(p, k, SRC_DEFAULT, e->def)) < 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- parse */

static const char *env_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    }
    return NULL;
}

static int find_flag(const struct parser *p, const char *name, size_t n)
{
    for (size_t k = 0; k < p->n; k++) {
        if (strlen(p->e[k]->name) == n && memcmp(p->e[k]->name, name, n) == 0)
            return (int)k;
    }
    return -1;
}

static int parse_args(struct parser *p, int argc, char *const argv[])
{
    char q[ECHO_BUF];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *val;
        size_t nlen;
        int k, rc;

        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                return fail(p, FLAGS_EUSAGE, "unexpected argument \"%s\" (only flags are accepted)",
                            echo(q, sizeof(q), argv[i + 1], strlen(argv[i + 1])));
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            return fail(p, FLAGS_EUSAGE, "unexpected argument \"%s\" (only flags are accepted)",
                        echo(q, sizeof(q), a, strlen(a)));
        name = a + (a[1] == '-' ? 2 : 1);
        eq = strchr(name, '=');
        nlen = eq ? (size_t)(eq - name) : strlen(name);
        if ((nlen == 4 && memcmp(name, "help", 4) == 0) || (nlen == 1 && name[0] == 'h'))
            return FLAGS_HELP;
        if (nlen == 7 && memcmp(name, "version", 7) == 0)
            return FLAGS_VERSION;
        k = find_flag(p, name, nlen);
        if (k < 0)
            return fail(p, FLAGS_EUSAGE, "unknown flag \"%s\" (see --help)",
                        echo(q, sizeof(q), a, eq ? (size_t)(eq - a) : strlen(a)));
        const struct flags_entry *e = p->e[k];
        if (eq != NULL) {
            val = eq + 1;
        } else if (e->type == FLAGS_BOOL) {
            val = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            val = argv[++i];
        } else {
            return fail(p, FLAGS_EUSAGE, "missing value for --%s", e->name);
        }
        if (e->type == FLAGS_LIST && !(p->seen[k] & SEEN_ARG))
            list_clear(e->dest.list);
        if ((rc = assign(p, (size_t)k, SRC_ARG, val)) < 0)
            return rc;
        p->seen[k] |= SEEN_ARG;
    }
    return FLAGS_OK;
}

static int apply_env(struct parser *p, char *const envp[])
{
    for (size_t k = 0; k < p->n; k++) {
        const struct flags_entry *e = p->e[k];
        const char *v;
        int rc;

        if (e->env == NULL || (p->seen[k] & SEEN_ARG))
            continue;
        v = env_lookup(envp, e->env);
        if (v == NULL || v[0] == '\0')
            continue;
        if (e->type == FLAGS_LIST)
            list_clear(e->dest.list);
        if ((rc = assign(p, k, SRC_ENV, v)) < 0)
            return rc;
        p->seen[k] |= SEEN_ENV;
    }
    return 0;
}

static int check_required(struct parser *p)
{
    for (size_t k = 0; k < p->n; k++) {
        const struct flags_entry *e = p->e[k];
        if (!(e->opts & FLAGS_REQUIRED) || p->seen[k] != 0)
            continue;
        if (e->env != NULL)
            return fail(p, FLAGS_EUSAGE, "missing required flag --%s (or $%s)", e->name, e->env);
        return fail(p, FLAGS_EUSAGE, "missing required flag --%s", e->name);
    }
    return 0;
}

int flags_parse(const struct flags_spec *spec, int argc, char *const argv[], char *const envp[],
                char *msg, size_t msglen)
{
    struct parser p = {.spec = spec, .msg = msg, .msglen = msglen};
    int rc;

    if (msg != NULL && msglen > 0)
        msg[0] = '\0';
    if ((rc = load_tables(&p)) < 0 || (rc = apply_defaults(&p)) < 0)
        return rc;
    rc = parse_args(&p, argc, argv);
    if (rc != FLAGS_OK)
        return rc;
    if ((rc = apply_env(&p, envp)) < 0 || (rc = check_required(&p)) < 0)
        return rc;
    return FLAGS_OK;
}

/* ---------------------------------------------------------------- usage */

static const char *type_metavar(const struct flags_entry *e)
{
    switch (e->type) {
    case FLAGS_STRING:
    case FLAGS_LIST:
        return "VALUE";
    case FLAGS_INT:
        return "N";
    case FLAGS_DURATION:
        return "DURATION";
    case FLAGS_SIZE:
        return "SIZE";
    case FLAGS_BOOL:
    case FLAGS_ENUM:
        break;
    }
    return NULL;
}

static void usage_entry(const struct flags_entry *e, FILE *out)
{
    const char *sep = " (";

    fprintf(out, "  --%s", e->name);
    if (e->metavar != NULL) {
        fprintf(out, " %s", e->metavar);
    } else if (e->type == FLAGS_ENUM) {
        for (int i = 0; e->choices[i] != NULL; i++)
            fprintf(out, "%c%s", i ? '|' : ' ', e->choices[i]);
    } else if (type_metavar(e) != NULL) {
        fprintf(out, " %s", type_metavar(e));
    }
    fprintf(out, "\n        %s", e->help ? e->help : "");
    if (e->def != NULL && e->def[0] != '\0' && !(e->opts & FLAGS_SECRET)) {
        if (e->type == FLAGS_STRING || e->type == FLAGS_LIST)
            fprintf(out, "%sdefault \"%s\"", sep, e->def);
        else
            fprintf(out, "%sdefault %s", sep, e->def);
        sep = "; ";
    }
    if (e->env != NULL) {
        fprintf(out, "%senv %s%s", sep, e->env,
                e->type == FLAGS_LIST && (e->opts & FLAGS_ENV_COMMA) ? ", comma-separated" : "");
        sep = "; ";
    }
    if (e->type == FLAGS_LIST) {
        fprintf(out, "%srepeatable%s", sep, e->opts & FLAGS_ARG_COMMA ? ", comma-separated" : "");
        sep = "; ";
    }
    if (e->opts & FLAGS_REQUIRED) {
        fprintf(out, "%srequired", sep);
        sep = "; ";
    }
    fprintf(out, "%s\n", sep[0] == ';' ? ")" : "");
}

int flags_usage(const struct flags_spec *spec, FILE *out)
{
    fprintf(out, "Usage: %s [flags]\n", spec->prog);
    if (spec->summary != NULL)
        fprintf(out, "\n%s\n", spec->summary);
    for (size_t g = 0; g < spec->ngroups; g++) {
        const struct flags_group *grp = &spec->groups[g];
        fprintf(out, "\n%s:\n", grp->title ? grp->title : "Flags");
        for (size_t i = 0; i < grp->n; i++)
            usage_entry(&grp->v[i], out);
    }
    fprintf(out, "\n  -h, --help\n        show this help and exit\n"
                 "  --version\n        print the version and exit\n");
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

void flags_parse_or_exit(const struct flags_spec *spec, int argc, char *const argv[])
{
    char msg[FLAGS_MSG_MAX + 1];
    int rc = flags_parse(spec, argc, argv, environ, msg, FLAGS_MSG_MAX);

    switch (rc) {
    case FLAGS_OK:
        return;
    case FLAGS_HELP:
        exit(flags_usage(spec, stdout) == 0 ? 0 : 1);
    case FLAGS_VERSION:
        printf("%s %s\n", spec->prog, spec->version ? spec->version : "");
        exit(fflush(stdout) == 0 ? 0 : 1);
    default: {
        /* One write, so the line cannot interleave with another writer. */
        size_t n = strlen(msg);
        msg[n++] = '\n';
        ssize_t w;
        do
            w = write(STDERR_FILENO, msg, n);
        while (w < 0 && errno == EINTR);
        exit(2);
    }
    }
}

/* ----------------------------------------------------------- validators */

const char *flags_check_positive(const union flags_value *v)
{
    return v->i > 0 ? NULL : "must be > 0";
}

const char *flags_check_nonnegative(const union flags_value *v)
{
    return v->i >= 0 ? NULL : "must be >= 0";
}

const char *flags_check_size_positive(const union flags_value *v)
{
    return v->size > 0 ? NULL : "must be > 0";
}

const char *flags_check_nonempty(const union flags_value *v)
{
    return v->str != NULL && v->str[0] != '\0' ? NULL : "must not be empty";
}
