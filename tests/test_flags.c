/*
 * tests/test_flags.c — the flag/env parser: value forms, bools, lists,
 * environment fallback and precedence, generated help, every error path
 * (one line each), table checks, and the exiting wrapper in a forked child.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/flags.h"
#include "core/log.h"
#include "core/units.h"

static struct cfg {
    const char *listen;
    const char *nats_url;
    const char *auth_key;
    bool publish_only;
    bool track;
    int64_t workers;
    int64_t offset;
    int64_t request_timeout;
    uint64_t max_body;
    struct flags_list hostnames;
    struct flags_list filters;
    struct flags_list routes;
    int log_level;
    const char *name;
} cfg;

static const char *check_workers(const union flags_value *v)
{
    return v->i >= 1 && v->i <= 1024 ? NULL : "must be between 1 and 1024";
}

static const char *check_route(const union flags_value *v)
{
    return strchr(v->str, '=') != NULL ? NULL : "want HOST=URL";
}

static const struct flags_entry main_flags[] = {
    {.name = "listen",
     .env = "H8S_LISTEN",
     .def = "0.0.0.0:8080",
     .metavar = "ADDR",
     .help = "address to listen on",
     FLAGS_DEST_STRING(&cfg.listen)},
    {.name = "publish-only",
     .env = "H8S_PUBLISH_ONLY",
     .help = "answer 200 at once",
     FLAGS_DEST_BOOL(&cfg.publish_only)},
    {.name = "track-interest",
     .def = "true",
     .help = "track interest",
     FLAGS_DEST_BOOL(&cfg.track)},
    {.name = "workers",
     .env = "H8S_WORKERS",
     .help = "worker threads",
     FLAGS_DEST_INT(&cfg.workers),
     .check = check_workers},
    {.name = "offset", .help = "a signed number", FLAGS_DEST_INT(&cfg.offset)},
    {.name = "request-timeout",
     .env = "H8S_REQUEST_TIMEOUT",
     .def = "30s",
     .help = "sliding reply timeout",
     FLAGS_DEST_DURATION(&cfg.request_timeout),
     .check = flags_check_positive},
    {.name = "max-body-size",
     .def = "2M",
     .help = "request body limit",
     FLAGS_DEST_SIZE(&cfg.max_body),
     .check = flags_check_size_positive},
    {.name = "hostname",
     .env = "H8SRD_HOSTNAME",
     .metavar = "HOST",
     .help = "public host name",
     FLAGS_DEST_LIST(&cfg.hostnames),
     .opts = FLAGS_ENV_COMMA | FLAGS_REQUIRED,
     .check = flags_check_nonempty},
    {.name = "host-filters",
     .env = "H8S_HOST_FILTERS",
     .def = "a.example, b.example",
     .help = "hosts to accept",
     FLAGS_DEST_LIST(&cfg.filters),
     .opts = FLAGS_ENV_COMMA | FLAGS_ARG_COMMA},
    {.name = "route",
     .metavar = "HOST=URL",
     .help = "extra route",
     FLAGS_DEST_LIST(&cfg.routes),
     .check = check_route},
    {.name = "authorization-key",
     .env = "H8S_AUTHORIZATION_KEY",
     .def = "hunter2",
     .help = "required Authorization value",
     FLAGS_DEST_STRING(&cfg.auth_key),
     .opts = FLAGS_SECRET},
    {.name = "log-level",
     .env = "H8S_LOG_LEVEL",
     .def = "info",
     .help = "log level",
     FLAGS_DEST_ENUM(&cfg.log_level, log_level_names)},
};

static const struct flags_entry nats_flags[] = {
    {.name = "nats-url",
     .env = "NATS_URL",
     .def = "nats://127.0.0.1:4222",
     .metavar = "URLS",
     .help = "NATS servers",
     FLAGS_DEST_STRING(&cfg.nats_url)},
    {.name = "nats-name", .help = "connection name", FLAGS_DEST_STRING(&cfg.name)},
};

static const struct flags_group groups[] = {
    FLAGS_GROUP(NULL, main_flags),
    FLAGS_GROUP("NATS", nats_flags),
};

static const struct flags_spec spec = {
    .prog = "h8sd",
    .version = "1.2.3",
    .summary = "HTTP in, NATS out.",
    .groups = groups,
    .ngroups = 2,
};

static char msg[FLAGS_MSG_MAX];

/* Parses a NULL-terminated argument list (program name first) and env. */
static int run_env(char *const *env, const char *first, ...)
{
    char *argv[200];
    int argc = 0;
    va_list ap;

    memset(&cfg, 0, sizeof(cfg));
    cfg.workers = 4; /* a caller-set default: no .def */
    argv[argc++] = (char *)"h8sd";
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(msg, 'X', sizeof(msg));
    int rc = flags_parse(&spec, argc, argv, env, msg, sizeof(msg));
    assert_true(strlen(msg) < sizeof(msg));
    if (rc < 0) {
        assert_null(strchr(msg, '\n'));
        assert_memory_equal(msg, "h8sd: ", 6);
        for (const char *c = msg; *c; c++)
            assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
    } else {
        assert_string_equal(msg, "");
    }
    return rc;
}

static char *const host_env[] = {"H8SRD_HOSTNAME=app.example", NULL};

#define run(...) run_env(host_env, __VA_ARGS__, NULL)

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(run(NULL), FLAGS_OK);
    assert_string_equal(cfg.listen, "0.0.0.0:8080");
    assert_false(cfg.publish_only);
    assert_true(cfg.track);
    assert_int_equal(cfg.workers, 4); /* untouched: no default in the table */
    assert_int_equal(cfg.request_timeout, 30 * UNITS_S);
    assert_true(cfg.max_body == 2 * UNITS_MIB);
    assert_int_equal(cfg.filters.n, 2);
    assert_string_equal(cfg.filters.item[0], "a.example");
    assert_string_equal(cfg.filters.item[1], "b.example");
    assert_int_equal(cfg.routes.n, 0);
    assert_string_equal(cfg.auth_key, "hunter2");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_string_equal(cfg.nats_url, "nats://127.0.0.1:4222");
    assert_null(cfg.name);
    assert_int_equal(cfg.hostnames.n, 1); /* from the environment */
}

static void test_value_forms(void **state)
{
    (void)state;
    assert_int_equal(run("--listen=:9090"), FLAGS_OK);
    assert_string_equal(cfg.listen, ":9090");
    assert_int_equal(run("--listen", ":9091"), FLAGS_OK);
    assert_string_equal(cfg.listen, ":9091");
    assert_int_equal(run("-listen=:9092"), FLAGS_OK);
    assert_string_equal(cfg.listen, ":9092");
    assert_int_equal(run("-listen", ":9093"), FLAGS_OK);
    assert_string_equal(cfg.listen, ":9093");
    /* Values may contain '=' and be empty; the last occurrence wins. */
    assert_int_equal(run("--nats-name=a=b", "--listen=", "--listen", "x", "--listen=y"), FLAGS_OK);
    assert_string_equal(cfg.name, "a=b");
    assert_string_equal(cfg.listen, "y");
    /* A separate value may start with a single dash. */
    assert_int_equal(run("--offset", "-5"), FLAGS_OK);
    assert_int_equal(cfg.offset, -5);
    assert_int_equal(run("--offset=-9223372036854775808"), FLAGS_OK);
    assert_true(cfg.offset == INT64_MIN);
    assert_int_equal(run("--offset=+9223372036854775807"), FLAGS_OK);
    assert_true(cfg.offset == INT64_MAX);
    assert_int_equal(run("--workers=16", "--request-timeout", "1m30s", "--max-body-size=16KiB",
                         "--log-level", "DEBUG"),
                     FLAGS_OK);
    assert_int_equal(cfg.workers, 16);
    assert_int_equal(cfg.request_timeout, 90 * UNITS_S);
    assert_true(cfg.max_body == 16384);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    /* "--" ends the flags. */
    assert_int_equal(run("--workers=2", "--"), FLAGS_OK);
    assert_int_equal(cfg.workers, 2);
}

static void test_bools(void **state)
{
    static const struct {
        const char *arg;
        bool want;
    } v[] = {
        {"--publish-only", true},        {"-publish-only", true},
        {"--publish-only=true", true},   {"--publish-only=1", true},
        {"--publish-only=True", true},   {"--publish-only=TRUE", true},
        {"--publish-only=t", true},      {"--publish-only=false", false},
        {"--publish-only=0", false},     {"--publish-only=F", false},
        {"--publish-only=False", false}, {"--publish-only=FALSE", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(run(v[i].arg), FLAGS_OK);
        assert_int_equal(cfg.publish_only, v[i].want);
    }
    assert_int_equal(run("--track-interest=false"), FLAGS_OK);
    assert_false(cfg.track);
    assert_int_equal(run("--publish-only=yes"), FLAGS_EUSAGE);
    assert_string_equal(
        msg, "h8sd: invalid value \"yes\" for --publish-only: want true or false (or 1, 0)");
    assert_int_equal(run("--publish-only="), FLAGS_EUSAGE);
    /* A bool never takes the next argument: that would be positional. */
    assert_int_equal(run("--publish-only", "false"), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: unexpected argument \"false\" (only flags are accepted)");
}

static void test_lists(void **state)
{
    (void)state;
    assert_int_equal(run("--route", "a=http://x", "--route=b=http://y", "--route", "c=z"),
                     FLAGS_OK);
    assert_int_equal(cfg.routes.n, 3);
    assert_string_equal(cfg.routes.item[0], "a=http://x");
    assert_string_equal(cfg.routes.item[1], "b=http://y");
    assert_string_equal(cfg.routes.item[2], "c=z");
    /* Without FLAGS_ARG_COMMA a comma is part of the value. */
    assert_int_equal(run("--route=a=1,2"), FLAGS_OK);
    assert_int_equal(cfg.routes.n, 1);
    assert_string_equal(cfg.routes.item[0], "a=1,2");
    /* The first command-line value replaces the default; later ones add. */
    assert_int_equal(run("--host-filters", " x.example ,y.example", "--host-filters=z"), FLAGS_OK);
    assert_int_equal(cfg.filters.n, 3);
    assert_string_equal(cfg.filters.item[0], "x.example");
    assert_string_equal(cfg.filters.item[1], "y.example");
    assert_string_equal(cfg.filters.item[2], "z");
    assert_int_equal(run("--host-filters=a,,b"), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"a,,b\" for --host-filters: empty item in list");
    assert_int_equal(run("--host-filters=a, "), FLAGS_EUSAGE);
    /* Per-item validator. */
    assert_int_equal(run("--route=nope"), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"nope\" for --route: want HOST=URL");
    assert_int_equal(run("--hostname="), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"\" for --hostname: must not be empty");
}

static void test_list_bounds(void **state)
{
    char *argv[FLAGS_LIST_MAX + 3];
    char vals[FLAGS_LIST_MAX + 1][16];
    (void)state;

    argv[0] = (char *)"h8sd";
    for (int i = 0; i <= FLAGS_LIST_MAX; i++) {
        snprintf(vals[i], sizeof(vals[i]), "--route=h%d=u", i);
        argv[i + 1] = vals[i];
    }
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(flags_parse(&spec, FLAGS_LIST_MAX + 1, argv, host_env, msg, sizeof(msg)),
                     FLAGS_OK);
    assert_int_equal(cfg.routes.n, FLAGS_LIST_MAX);
    assert_string_equal(cfg.routes.item[FLAGS_LIST_MAX - 1], "h63=u");
    assert_int_equal(flags_parse(&spec, FLAGS_LIST_MAX + 2, argv, host_env, msg, sizeof(msg)),
                     FLAGS_EUSAGE);
    assert_string_equal(msg,
                        "h8sd: invalid value \"h64=u\" for --route: too many values (at most 64)");

    /* The byte budget: a few huge values overflow the list buffer. */
    static char big[3000];
    memset(big, 'v', sizeof(big) - 1);
    big[0] = 'h';
    big[1] = '=';
    char *a2[] = {"h8sd", "--route", big, "--route", big, "--route", big, NULL};
    assert_int_equal(flags_parse(&spec, 5, a2, host_env, msg, sizeof(msg)), FLAGS_OK);
    assert_int_equal(flags_parse(&spec, 7, a2, host_env, msg, sizeof(msg)), FLAGS_EUSAGE);
    assert_non_null(strstr(msg, "values too long (at most 8192 bytes in all)"));
    assert_non_null(strstr(msg, "vvvv...\""));
}

static void test_env(void **state)
{
    (void)state;
    char *const env[] = {
        "PATH=/usr/bin",
        "H8S_LISTEN=:7000",
        "H8S_WORKERS=8",
        "H8S_PUBLISH_ONLY=1",
        "H8S_REQUEST_TIMEOUT=", /* empty: as if unset */
        "H8SRD_HOSTNAME= one.example , two.example,three.example",
        "H8S_HOST_FILTERS=q.example",
        "H8S_LISTENX=wrong", /* a longer name sharing the prefix */
        "NATS_URL=nats://u:p@n1:4222,nats://n2",
        "H8S_LOG_LEVEL=warn",
        NULL,
    };
    assert_int_equal(run_env(env, NULL), FLAGS_OK);
    assert_string_equal(cfg.listen, ":7000");
    assert_int_equal(cfg.workers, 8);
    assert_true(cfg.publish_only);
    assert_int_equal(cfg.request_timeout, 30 * UNITS_S);
    assert_int_equal(cfg.hostnames.n, 3);
    assert_string_equal(cfg.hostnames.item[0], "one.example");
    assert_string_equal(cfg.hostnames.item[2], "three.example");
    assert_int_equal(cfg.filters.n, 1); /* env replaced the default */
    assert_string_equal(cfg.nats_url, "nats://u:p@n1:4222,nats://n2");
    assert_int_equal(cfg.log_level, LOG_WARN);

    /* The flag wins over the environment, for scalars and lists. */
    assert_int_equal(run_env(env, "--listen=:1", "--workers", "2", "--hostname", "x",
                             "--publish-only=false", NULL),
                     FLAGS_OK);
    assert_string_equal(cfg.listen, ":1");
    assert_int_equal(cfg.workers, 2);
    assert_false(cfg.publish_only);
    assert_int_equal(cfg.hostnames.n, 1);
    assert_string_equal(cfg.hostnames.item[0], "x");

    /* Bad environment values name the variable and the flag. */
    char *const bad1[] = {"H8SRD_HOSTNAME=h", "H8S_REQUEST_TIMEOUT=5x", NULL};
    assert_int_equal(run_env(bad1, NULL), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"5x\" in $H8S_REQUEST_TIMEOUT (for "
                             "--request-timeout): unknown unit \"x\" (use ns, us, ms, s, m, h)");
    /* ...unless the flag is given, then the environment is not even read. */
    assert_int_equal(run_env(bad1, "--request-timeout=1s", NULL), FLAGS_OK);
    char *const bad2[] = {"H8SRD_HOSTNAME=a,,b", NULL};
    assert_int_equal(run_env(bad2, NULL), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"a,,b\" in $H8SRD_HOSTNAME (for --hostname): "
                             "empty item in list");
    char *const bad3[] = {"H8SRD_HOSTNAME=h", "H8S_AUTHORIZATION_KEY=", "H8S_PUBLISH_ONLY=on",
                          NULL};
    assert_int_equal(run_env(bad3, NULL), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: invalid value \"on\" in $H8S_PUBLISH_ONLY (for "
                             "--publish-only): want true or false (or 1, 0)");
    /* No environment at all. */
    assert_int_equal(run_env(NULL, "--hostname=h", NULL), FLAGS_OK);
    assert_string_equal(cfg.listen, "0.0.0.0:8080");
}

static void test_errors_one_line(void **state)
{
    static const struct {
        const char *args[4];
        const char *want;
    } v[] = {
        {{"--bogus"}, "h8sd: unknown flag \"--bogus\" (see --help)"},
        {{"--bogus=1"}, "h8sd: unknown flag \"--bogus\" (see --help)"},
        {{"-x"}, "h8sd: unknown flag \"-x\" (see --help)"},
        {{"---listen=1"}, "h8sd: unknown flag \"---listen\" (see --help)"},
        {{"--Listen=1"}, "h8sd: unknown flag \"--Listen\" (see --help)"},
        {{"--"}, NULL},
        {{"--", "x"}, "h8sd: unexpected argument \"x\" (only flags are accepted)"},
        {{"serve"}, "h8sd: unexpected argument \"serve\" (only flags are accepted)"},
        {{"-"}, "h8sd: unexpected argument \"-\" (only flags are accepted)"},
        {{""}, "h8sd: unexpected argument \"\" (only flags are accepted)"},
        {{"--listen"}, "h8sd: missing value for --listen"},
        {{"--listen", "--workers=2"}, "h8sd: missing value for --listen"},
        {{"--workers=5x"}, "h8sd: invalid value \"5x\" for --workers: want an integer"},
        {{"--workers="}, "h8sd: invalid value \"\" for --workers: want an integer"},
        {{"--workers=-"}, "h8sd: invalid value \"-\" for --workers: want an integer"},
        {{"--workers= 5"}, "h8sd: invalid value \" 5\" for --workers: want an integer"},
        {{"--workers=0"}, "h8sd: invalid value \"0\" for --workers: must be between 1 and 1024"},
        {{"--offset=9223372036854775808"},
         "h8sd: invalid value \"9223372036854775808\" for --offset: out of range"},
        {{"--offset=-9223372036854775809"},
         "h8sd: invalid value \"-9223372036854775809\" for --offset: out of range"},
        {{"--request-timeout", "5x"},
         "h8sd: invalid value \"5x\" for --request-timeout: unknown unit \"x\" (use ns, us, ms, "
         "s, m, h)"},
        {{"--request-timeout=5"},
         "h8sd: invalid value \"5\" for --request-timeout: missing unit (use ns, us, ms, s, m, h)"},
        {{"--request-timeout=0s"}, "h8sd: invalid value \"0s\" for --request-timeout: must be > 0"},
        {{"--request-timeout=-1s"},
         "h8sd: invalid value \"-1s\" for --request-timeout: must be > 0"},
        {{"--max-body-size=1.5M"},
         "h8sd: invalid value \"1.5M\" for --max-body-size: fractional sizes are not supported"},
        {{"--max-body-size=2X"},
         "h8sd: invalid value \"2X\" for --max-body-size: unknown suffix \"X\" (use K, M, G or T, "
         "optionally followed by B or iB)"},
        {{"--max-body-size=0"}, "h8sd: invalid value \"0\" for --max-body-size: must be > 0"},
        {{"--log-level=loud"},
         "h8sd: invalid value \"loud\" for --log-level: want one of debug, info, warn, error"},
        {{"--authorization-key"}, "h8sd: missing value for --authorization-key"},
        /* Hostile values are escaped, secrets redacted, long values cut. */
        {{"--workers=1\n2"}, "h8sd: invalid value \"1\\x0a2\" for --workers: want an integer"},
        {{"--workers=\"\\\x1b\xc3\xa6"},
         "h8sd: invalid value \"\\x22\\x5c\\x1b\\xc3\\xa6\" for --workers: want an integer"},
        {{"--workers=nats://u:pw@h"},
         "h8sd: invalid value \"nats://u:***@h\" for --workers: want an integer"},
        {{"--bo\ngus"}, "h8sd: unknown flag \"--bo\\x0agus\" (see --help)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int rc = run(v[i].args[0], v[i].args[1], v[i].args[2], v[i].args[3]);
        if (v[i].want == NULL) {
            assert_int_equal(rc, FLAGS_OK);
            continue;
        }
        if (rc != FLAGS_EUSAGE || strcmp(msg, v[i].want) != 0)
            fail_msg("case %zu: rc=%d msg=%s", i, rc, msg);
    }

    static char longv[600];
    memset(longv, '7', sizeof(longv) - 1);
    longv[10] = 'x';
    assert_int_equal(run("--workers", longv), FLAGS_EUSAGE);
    assert_true(strlen(msg) < 200);
    assert_non_null(strstr(msg, "\"7777777777x777"));
    assert_non_null(strstr(msg, "777...\" for --workers: want an integer"));
}

static void test_secret_and_required(void **state)
{
    (void)state;
    /* A secret flag's value never appears, from argv or env. */
    static const struct flags_entry sec[] = {
        {.name = "key",
         .env = "KEY",
         .help = "k",
         FLAGS_DEST_INT(&cfg.offset),
         .opts = FLAGS_SECRET},
    };
    static const struct flags_group g[] = {FLAGS_GROUP(NULL, sec)};
    static const struct flags_spec s = {.prog = "p", .groups = g, .ngroups = 1};
    char *argv[] = {"p", "--key=topsecret", NULL};
    assert_int_equal(flags_parse(&s, 2, argv, NULL, msg, sizeof(msg)), FLAGS_EUSAGE);
    assert_string_equal(msg, "p: invalid value for --key: want an integer");
    char *env[] = {"KEY=topsecret", NULL};
    assert_int_equal(flags_parse(&s, 1, argv, env, msg, sizeof(msg)), FLAGS_EUSAGE);
    assert_string_equal(msg, "p: invalid value in $KEY (for --key): want an integer");

    /* Required: a default does not count; argv or env does. */
    assert_int_equal(run_env(NULL, NULL), FLAGS_EUSAGE);
    assert_string_equal(msg, "h8sd: missing required flag --hostname (or $H8SRD_HOSTNAME)");
    char *const empty_env[] = {"H8SRD_HOSTNAME=", NULL};
    assert_int_equal(run_env(empty_env, NULL), FLAGS_EUSAGE);
    assert_int_equal(run_env(NULL, "--hostname", "h", NULL), FLAGS_OK);
}

static void test_help_and_version(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), FLAGS_HELP);
    assert_int_equal(run("-h"), FLAGS_HELP);
    assert_int_equal(run("-help"), FLAGS_HELP);
    assert_int_equal(run("--workers=2", "--help", "--bogus"), FLAGS_HELP);
    assert_int_equal(run("--version"), FLAGS_VERSION);
    assert_int_equal(run("-version"), FLAGS_VERSION);
    /* Left to right: an error before --help wins. */
    assert_int_equal(run("--bogus", "--help"), FLAGS_EUSAGE);
    /* --help even without the required flag. */
    assert_int_equal(run_env(NULL, "--help", NULL), FLAGS_HELP);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(flags_usage(&spec, f), 0);
    fclose(f);
    static const char *const want[] = {
        "Usage: h8sd [flags]\n\nHTTP in, NATS out.\n\nFlags:\n",
        "  --listen ADDR\n        address to listen on (default \"0.0.0.0:8080\"; env "
        "H8S_LISTEN)\n",
        "  --publish-only\n        answer 200 at once (env H8S_PUBLISH_ONLY)\n",
        "  --track-interest\n        track interest (default true)\n",
        "  --workers N\n        worker threads (env H8S_WORKERS)\n",
        "  --offset N\n        a signed number\n",
        "  --request-timeout DURATION\n        sliding reply timeout (default 30s; env "
        "H8S_REQUEST_TIMEOUT)\n",
        "  --max-body-size SIZE\n        request body limit (default 2M)\n",
        "  --hostname HOST\n        public host name (env H8SRD_HOSTNAME, comma-separated; "
        "repeatable; required)\n",
        "  --host-filters VALUE\n        hosts to accept (default \"a.example, b.example\"; env "
        "H8S_HOST_FILTERS, comma-separated; repeatable, comma-separated)\n",
        "  --route HOST=URL\n        extra route (repeatable)\n",
        "  --authorization-key VALUE\n        required Authorization value (env "
        "H8S_AUTHORIZATION_KEY)\n",
        "  --log-level debug|info|warn|error\n        log level (default info; env "
        "H8S_LOG_LEVEL)\n",
        "\nNATS:\n  --nats-url URLS\n        NATS servers (default \"nats://127.0.0.1:4222\"; env "
        "NATS_URL)\n",
        "  -h, --help\n        show this help and exit\n  --version\n        print the version "
        "and exit\n",
    };
    const char *at = text;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(at, want[i]);
        if (hit == NULL)
            fail_msg("usage lacks (in order) %s\n--- usage ---\n%s", want[i], text);
        at = hit + strlen(want[i]);
    }
    assert_null(strstr(text, "hunter2")); /* a secret default stays hidden */
    free(text);
}

static void test_table_errors(void **state)
{
    static int64_t x;
    static const struct flags_entry dup[] = {
        {.name = "a", .help = "", FLAGS_DEST_INT(&x)},
        {.name = "a", .help = "", FLAGS_DEST_INT(&x)},
    };
    static const struct flags_entry reserved[] = {{.name = "help", FLAGS_DEST_INT(&x)}};
    static const struct flags_entry upper[] = {{.name = "Big", FLAGS_DEST_INT(&x)}};
    static const struct flags_entry nodest[] = {{.name = "a", .type = FLAGS_INT}};
    static const struct flags_entry nochoices[] = {
        {.name = "a", FLAGS_DEST_ENUM(&cfg.log_level, NULL)}};
    static const struct flags_entry baddef[] = {
        {.name = "t", .def = "30", FLAGS_DEST_DURATION(&x)}};
    static const struct flags_group gs[][1] = {
        {FLAGS_GROUP(NULL, dup)},    {FLAGS_GROUP(NULL, reserved)},  {FLAGS_GROUP(NULL, upper)},
        {FLAGS_GROUP(NULL, nodest)}, {FLAGS_GROUP(NULL, nochoices)}, {FLAGS_GROUP(NULL, baddef)},
    };
    static const char *const want[] = {
        "p: flag table: --a defined twice",
        "p: flag table: bad or reserved flag name \"help\"",
        "p: flag table: bad or reserved flag name \"Big\"",
        "p: flag table: --a has no usable destination",
        "p: flag table: --a has no usable destination",
        "p: bad default \"30\" for --t: missing unit (use ns, us, ms, s, m, h)",
    };
    char *argv[] = {"p", "--help", NULL};
    (void)state;
    for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
        struct flags_spec s = {.prog = "p", .groups = gs[i], .ngroups = 1};
        assert_int_equal(flags_parse(&s, 2, argv, NULL, msg, sizeof(msg)), FLAGS_ETABLE);
        assert_string_equal(msg, want[i]);
    }
    /* Duplicates across groups are caught too. */
    static const struct flags_entry one[] = {{.name = "listen", FLAGS_DEST_INT(&x)}};
    const struct flags_group two[] = {FLAGS_GROUP(NULL, main_flags), FLAGS_GROUP("x", one)};
    struct flags_spec s = {.prog = "p", .groups = two, .ngroups = 2};
    assert_int_equal(flags_parse(&s, 1, argv, NULL, msg, sizeof(msg)), FLAGS_ETABLE);
    assert_string_equal(msg, "p: flag table: --listen defined twice");
    /* A tiny message buffer is still NUL-terminated; NULL is allowed. */
    char tiny[5];
    assert_int_equal(flags_parse(&s, 1, argv, NULL, tiny, sizeof(tiny)), FLAGS_ETABLE);
    assert_string_equal(tiny, "p: f");
    assert_int_equal(flags_parse(&s, 1, argv, NULL, NULL, 0), FLAGS_ETABLE);
}

/* ------------------------------------------------------ the exit wrapper */

struct child {
    int status;
    char out[8192];
    char err[4096];
};

static void read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
}

/* Runs flags_parse_or_exit in a child with the given args and one
 * environment variable set (or none), capturing stdout and stderr. */
static void run_child(struct child *c, const char *env, char *const args[])
{
    int out[2], err[2];
    char *argv[16] = {"h8sd"};
    int argc = 1;

    for (; args[argc - 1] != NULL; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        unsetenv("H8SRD_HOSTNAME");
        if (env != NULL)
            putenv((char *)env);
        flags_parse_or_exit(&spec, argc, argv);
        printf("OK listen=%s hosts=%zu\n", cfg.listen, cfg.hostnames.n);
        exit(0);
    }
    close(out[1]);
    close(err[1]);
    /* Output is small: reading one pipe then the other cannot deadlock. */
    read_all(out[0], c->out, sizeof(c->out));
    read_all(err[0], c->err, sizeof(c->err));
    close(out[0]);
    close(err[0]);
    assert_int_equal(waitpid(pid, &c->status, 0), pid);
}

static void assert_one_error_line(const struct child *c, const char *want)
{
    assert_true(WIFEXITED(c->status));
    assert_int_equal(WEXITSTATUS(c->status), 2);
    assert_string_equal(c->out, "");
    size_t n = strlen(c->err);
    assert_true(n > 0 && c->err[n - 1] == '\n');
    assert_ptr_equal(strchr(c->err, '\n'), c->err + n - 1); /* exactly one line */
    if (want != NULL) {
        assert_int_equal(n - 1, strlen(want));
        assert_memory_equal(c->err, want, n - 1);
    }
}

static void test_exit_wrapper(void **state)
{
    struct child c;
    (void)state;

    run_child(&c, NULL, (char *[]){"--request-timeout=5x", "--hostname=h", NULL});
    assert_one_error_line(&c, "h8sd: invalid value \"5x\" for --request-timeout: unknown unit "
                              "\"x\" (use ns, us, ms, s, m, h)");
    run_child(&c, NULL, (char *[]){"--bogus", NULL});
    assert_one_error_line(&c, "h8sd: unknown flag \"--bogus\" (see --help)");
    run_child(&c, NULL, (char *[]){"--listen", NULL});
    assert_one_error_line(&c, "h8sd: missing value for --listen");
    run_child(&c, NULL, (char *[]){"positional", NULL});
    assert_one_error_line(&c, NULL);
    run_child(&c, NULL, (char *[]){NULL});
    assert_one_error_line(&c, "h8sd: missing required flag --hostname (or $H8SRD_HOSTNAME)");
    run_child(&c, "H8S_WORKERS=0", (char *[]){"--hostname=h", NULL});
    assert_one_error_line(&c, "h8sd: invalid value \"0\" in $H8S_WORKERS (for --workers): must "
                              "be between 1 and 1024");

    /* Success returns to the caller, with the process environment used. */
    run_child(&c, "H8SRD_HOSTNAME=a,b", (char *[]){"--listen=:1", NULL});
    assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    assert_string_equal(c.out, "OK listen=:1 hosts=2\n");
    assert_string_equal(c.err, "");

    run_child(&c, NULL, (char *[]){"--help", NULL});
    assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    assert_memory_equal(c.out, "Usage: h8sd [flags]\n", 20);
    assert_non_null(strstr(c.out, "--request-timeout DURATION"));
    assert_string_equal(c.err, "");

    run_child(&c, NULL, (char *[]){"--version", NULL});
    assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    assert_string_equal(c.out, "h8sd 1.2.3\n");
    assert_string_equal(c.err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_list_bounds),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_errors_one_line),
        cmocka_unit_test(test_secret_and_required),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_exit_wrapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
