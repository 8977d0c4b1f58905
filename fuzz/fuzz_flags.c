/*
 * fuzz/fuzz_flags.c — core/flags (flags_parse) against a small table with
 * one flag of every type.
 *
 * The input is split on NUL bytes into argv; after an empty item ("\0\0")
 * the rest are "NAME=value" environment entries. Invariants: no crash or
 * over-read; an error is one printable line starting with the program
 * name; on success every destination is readable and lists stay in bounds.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"
#include "core/log.h"

#define MAX_ARGS 256

static struct {
    const char *s;
    bool b;
    int64_t i, d;
    uint64_t size;
    struct flags_list list, words;
    int level;
    const char *secret;
} out;

static const struct flags_entry table[] = {
    {.name = "str", .env = "F_STR", .def = "x", FLAGS_DEST_STRING(&out.s)},
    {.name = "bool", .env = "F_BOOL", FLAGS_DEST_BOOL(&out.b)},
    {.name = "int", .env = "F_INT", FLAGS_DEST_INT(&out.i), .check = flags_check_nonnegative},
    {.name = "dur",
     .env = "F_DUR",
     .def = "1m30s",
     FLAGS_DEST_DURATION(&out.d),
     .check = flags_check_positive},
    {.name = "size", .env = "F_SIZE", .def = "2M", FLAGS_DEST_SIZE(&out.size)},
    {.name = "list",
     .env = "F_LIST",
     .def = "a,b",
     FLAGS_DEST_LIST(&out.list),
     .opts = FLAGS_ENV_COMMA | FLAGS_ARG_COMMA,
     .check = flags_check_nonempty},
    {.name = "word", .env = "F_WORD", FLAGS_DEST_LIST(&out.words)},
    {.name = "level", .env = "F_LEVEL", FLAGS_DEST_ENUM(&out.level, log_level_names)},
    {.name = "key",
     .env = "F_KEY",
     FLAGS_DEST_STRING(&out.secret),
     .opts = FLAGS_SECRET | FLAGS_REQUIRED},
};
static const struct flags_group groups[] = {FLAGS_GROUP("Fuzz", table)};
static const struct flags_spec spec = {.prog = "f", .version = "0", .groups = groups, .ngroups = 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 1];
    char msg[FLAGS_MSG_MAX];
    int argc = 1, envc = 0;
    size_t i = 0;

    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[0] = "f";
    while (i < size && argc < MAX_ARGS) {
        size_t n = strlen(buf + i);
        if (n == 0) {
            i++;
            break;
        }
        argv[argc++] = buf + i;
        i += n + 1;
    }
    while (i < size && envc < MAX_ARGS) {
        envp[envc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    envp[envc] = NULL;

    int rc = flags_parse(&spec, argc, argv, envp, msg, sizeof(msg));
    if (rc < 0) {
        assert(rc == FLAGS_EUSAGE);
        assert(strncmp(msg, "f: ", 3) == 0);
        for (const char *c = msg; *c; c++)
            assert((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
    } else if (rc == FLAGS_HELP) {
        static char text[8192];
        FILE *f = fmemopen(text, sizeof(text), "w");
        assert(f != NULL);
        flags_usage(&spec, f);
        fclose(f);
    } else if (rc == FLAGS_OK) {
        size_t total = strlen(out.s) + strlen(out.secret);
        assert(out.i >= 0 && out.d > 0 && out.level >= 0 && out.level <= LOG_ERROR);
        assert(out.list.n <= FLAGS_LIST_MAX && out.list.used <= FLAGS_LIST_BUF);
        for (size_t k = 0; k < out.list.n; k++)
            assert(strlen(out.list.item[k]) > 0 && strchr(out.list.item[k], ',') == NULL);
        for (size_t k = 0; k < out.words.n; k++)
            total += strlen(out.words.item[k]);
        assert(total < (size_t)-1);
    }
    free(buf);
    return 0;
}
