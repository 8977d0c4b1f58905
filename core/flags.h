/*
 * core/flags.h — one table-driven command-line and environment parser for
 * both daemons.
 *
 * A program describes its flags in tables of struct flags_entry (several
 * groups, so shared fragments such as the NATS flags can be reused), then
 * calls flags_parse_or_exit from main. For each flag, in increasing
 * precedence:
 *   1. the textual default .def, parsed like any value (NULL leaves *dest as
 *      the caller initialised it; lists start empty);
 *   2. the environment variable .env, when the flag is absent from argv and
 *      the variable is set and non-empty;
 *   3. the command line.
 *
 * Command line (Go's flag syntax, so Go h8s invocations keep working):
 *   --name=value   --name value   -name=value   -name value
 *   --bool         --bool=true|false|1|0 (also t, f, TRUE, False... as Go)
 *   --help, -h     print usage (status FLAGS_HELP)
 *   --version      print the version (status FLAGS_VERSION)
 * A separate value is the next argument unless that starts with "--"
 * (then the value is missing). A flag given twice keeps the last value; a
 * FLAGS_LIST flag accumulates, its first command-line occurrence replacing
 * the default and environment. "--" ends the flags; positional arguments
 * are not accepted. Flag names match exactly (case-sensitive).
 *
 * Any unknown flag, missing value, positional argument, invalid value or
 * missing required flag stops parsing with exactly one line (no newline)
 * naming the flag and the problem, e.g.
 *   h8sd: invalid value "5x" for --request-timeout: unknown unit "x" (use ns, us, ms, s, m, h)
 * Echoed values are escaped (never a control byte or a second line),
 * shortened when long, have URL credentials redacted (log_redact_url), and
 * are not echoed at all for FLAGS_SECRET flags.
 *
 * Lifetimes: a FLAGS_STRING destination points into argv, into the
 * environment strings passed in, or at .def; keep those alive and unchanged
 * (do not setenv a variable whose value you still use). FLAGS_LIST items
 * are copied into the list's own buffer: do not copy a struct flags_list
 * after parsing (its item pointers point into itself).
 *
 * No allocation, no global state; meant to run once, at start-up.
 */
#ifndef H8S_CORE_FLAGS_H
#define H8S_CORE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FLAGS_MAX 128       /* flags in one spec, all groups together */
#define FLAGS_LIST_MAX 64   /* values of one FLAGS_LIST flag */
#define FLAGS_LIST_BUF 8192 /* bytes of all values of one list, NULs included */
#define FLAGS_MSG_MAX 512   /* a message buffer that never truncates the prefix */

enum flags_type {
    FLAGS_STRING,   /* dest.str: const char * */
    FLAGS_BOOL,     /* dest.b: bool */
    FLAGS_INT,      /* dest.i: int64_t, decimal with optional sign */
    FLAGS_DURATION, /* dest.i: int64_t nanoseconds, Go syntax (core/units.h) */
    FLAGS_SIZE,     /* dest.size: uint64_t bytes, K/M/G/T suffixes (core/units.h) */
    FLAGS_LIST,     /* dest.list: repeatable string */
    FLAGS_ENUM      /* dest.choice: int index into .choices (case-insensitive) */
};

/* Option bits for flags_entry.opts. */
#define FLAGS_REQUIRED 0x1u  /* must come from argv or the environment */
#define FLAGS_SECRET 0x2u    /* never echo the value; hide the default in help */
#define FLAGS_ENV_COMMA 0x4u /* FLAGS_LIST: the env value is a comma-separated list */
#define FLAGS_ARG_COMMA 0x8u /* FLAGS_LIST: each argv value is a comma-separated list */

/* Values of a FLAGS_LIST flag. Items are NUL-terminated, in buf. */
struct flags_list {
    const char *item[FLAGS_LIST_MAX];
    size_t n;
    char buf[FLAGS_LIST_BUF];
    size_t used;
};

/* A parsed value, as handed to a check function (lists: one item). */
union flags_value {
    const char *str;
    bool b;
    int64_t i;
    uint64_t size;
    int choice;
};

struct flags_entry {
    const char *name;    /* without dashes: "request-timeout"; [a-z0-9-] */
    const char *env;     /* environment variable, or NULL */
    const char *def;     /* default as text (lists: comma-separated), or NULL */
    const char *metavar; /* shown in help ("ADDR"); NULL: derived from the type */
    const char *help;    /* one line */
    enum flags_type type;
    union {
        const char **str;
        bool *b;
        int64_t *i;
        uint64_t *size;
        struct flags_list *list;
        int *choice;
    } dest;
    const char *const *choices; /* FLAGS_ENUM: NULL-terminated names */
    unsigned opts;              /* FLAGS_REQUIRED | FLAGS_SECRET | ... */
    /*
     * Optional validator, called with each parsed value before it is
     * stored: returns NULL to accept or a short static reason ("must be >
     * 0") that ends up in the error line.
     */
    const char *(*check)(const union flags_value *v);
};

/*
 * Type-checked destinations: `FLAGS_DEST_DURATION(&cfg.timeout)` sets both
 * .type and the matching .dest member, so a wrong pointer type does not
 * compile.
 */
#define FLAGS_DEST_STRING(p) .type = FLAGS_STRING, .dest.str = (p)
#define FLAGS_DEST_BOOL(p) .type = FLAGS_BOOL, .dest.b = (p)
#define FLAGS_DEST_INT(p) .type = FLAGS_INT, .dest.i = (p)
#define FLAGS_DEST_DURATION(p) .type = FLAGS_DURATION, .dest.i = (p)
#define FLAGS_DEST_SIZE(p) .type = FLAGS_SIZE, .dest.size = (p)
#define FLAGS_DEST_LIST(p) .type = FLAGS_LIST, .dest.list = (p)
#define FLAGS_DEST_ENUM(p, names) .type = FLAGS_ENUM, .dest.choice = (p), .choices = (names)

/* A titled table of flags; FLAGS_GROUP("NATS", array) for a static array. */
struct flags_group {
    const char *title; /* help section title, or NULL for "Flags" */
    const struct flags_entry *v;
    size_t n;
};
/* clang-format off */
#define FLAGS_GROUP(title, arr) {(title), (arr), sizeof(arr) / sizeof((arr)[0])}
/* clang-format on */

struct flags_spec {
    const char *prog;    /* program name used in messages and usage */
    const char *version; /* printed by --version */
    const char *summary; /* printed under the usage line; may be NULL */
    const struct flags_group *groups;
    size_t ngroups;
};

/* flags_parse results. */
#define FLAGS_OK 0
#define FLAGS_HELP 1      /* --help or -h: print flags_usage, exit 0 */
#define FLAGS_VERSION 2   /* --version: print the version, exit 0 */
#define FLAGS_EUSAGE (-1) /* bad argument or environment value: msg says why */
#define FLAGS_ETABLE (-2) /* the tables themselves are wrong (a bug): msg says why */

/*
 * Parses argv[1..argc) and the environment envp (a NULL-terminated array of
 * "NAME=value" strings like environ; NULL for none) against spec, storing
 * into the tables' destinations. Returns FLAGS_OK, FLAGS_HELP,
 * FLAGS_VERSION or a negative FLAGS_E* code; on error msg (msglen bytes,
 * FLAGS_MSG_MAX recommended) receives one line without newline, starting
 * with "<prog>: ", and is always NUL-terminated. On FLAGS_HELP/VERSION
 * parsing stopped there: destinations hold defaults and whatever came
 * before. The tables are checked first (unique well-formed names, a
 * destination each, choices for enums, parseable defaults): a bad table is
 * FLAGS_ETABLE whatever argv says.
 */
int flags_parse(const struct flags_spec *spec, int argc, char *const argv[], char *const envp[],
                char *msg, size_t msglen);

/*
 * Writes the usage text: usage line, summary, then every group with each
 * flag's name, metavar, help, default, environment variable and whether it
 * is repeatable or required; --help and --version last. Returns 0 or -EIO
 * when writing to out failed.
 */
int flags_usage(const struct flags_spec *spec, FILE *out);

/*
 * The main() wrapper: flags_parse with the process environment; on
 * FLAGS_HELP prints the usage to stdout and exits 0, on FLAGS_VERSION
 * prints "<prog> <version>" and exits 0, on error writes the message line
 * to stderr in one write and exits 2. Returns only on FLAGS_OK.
 */
void flags_parse_or_exit(const struct flags_spec *spec, int argc, char *const argv[]);

/* Stock validators. For FLAGS_INT / FLAGS_DURATION: */
const char *flags_check_positive(const union flags_value *v);    /* > 0 */
const char *flags_check_nonnegative(const union flags_value *v); /* >= 0 */
/* For FLAGS_SIZE: */
const char *flags_check_size_positive(const union flags_value *v); /* > 0 */
/* For FLAGS_STRING / FLAGS_LIST: */
const char *flags_check_nonempty(const union flags_value *v);

#endif
