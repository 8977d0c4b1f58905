/*
 * agent/main.c — h8srd, the private side: NATS in, HTTP and WebSocket out to the app.
 *
 * Start-up order: flags (exit 2 on a bad value), logging, the loop with its
 * kernel checks (exit 1 naming what is missing), then run until SIGTERM or
 * SIGINT.
 */
#include "core/daemon.h"
#include "core/flags.h"
#include "core/version.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    struct daemon_log dlog;
    struct flags_entry log_flags[DAEMON_LOG_FLAGS];
    struct loop *l;

    daemon_log_flags(&dlog, log_flags);
    const struct flags_group groups[] = {
        FLAGS_GROUP("Logging", log_flags),
    };
    const struct flags_spec spec = {
        .prog = "h8srd",
        .version = H8S_VERSION,
        .summary = "h8srd is the h8s agent: it runs next to a private app, connects out to NATS\n"
                   "(it opens no listening socket), and forwards the requests h8sd publishes for\n"
                   "its hostnames to the app.",
        .groups = groups,
        .ngroups = sizeof(groups) / sizeof(groups[0]),
    };
    flags_parse_or_exit(&spec, argc, argv);
    daemon_log_apply(&dlog);

    if (daemon_loop_create(&l, NULL) < 0)
        return EXIT_FAILURE;
    int rc = daemon_run(l, spec.prog, NULL);
    loop_destroy(l);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
