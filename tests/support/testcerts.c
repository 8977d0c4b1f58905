/*
 * tests/support/testcerts.c — see testcerts.h.
 *
 * openssl reads our own config file (written into the directory) rather
 * than the system one, so the extensions are exactly those listed here on
 * any machine. Commands are spawned without a shell; output goes to a log
 * in the directory, shown on failure.
 */
#include "tests/support/testcerts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LOG_NAME "openssl.log"

static const char cnf_text[] = "[req]\n"
                               "distinguished_name = dn\n"
                               "prompt = no\n"
                               "[dn]\n"
                               "CN = unused\n"
                               "[v3_ca]\n"
                               "basicConstraints = critical, CA:TRUE\n"
                               "keyUsage = critical, keyCertSign, cRLSign\n"
                               "subjectKeyIdentifier = hash\n"
                               "[v3_inter]\n"
                               "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                               "keyUsage = critical, keyCertSign, cRLSign\n"
                               "subjectKeyIdentifier = hash\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[v3_server]\n"
                               "basicConstraints = critical, CA:FALSE\n"
                               "keyUsage = critical, digitalSignature, keyEncipherment\n"
                               "extendedKeyUsage = serverAuth, clientAuth\n"
                               "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[v3_client]\n"
                               "basicConstraints = critical, CA:FALSE\n"
                               "keyUsage = critical, digitalSignature\n"
                               "extendedKeyUsage = clientAuth\n"
                               "authorityKeyIdentifier = keyid\n"
                               "[ca]\n"
                               "default_ca = ca_default\n"
                               "[ca_default]\n"
                               "database = %s/index.txt\n"
                               "new_certs_dir = %s\n"
                               "serial = %s/serial\n"
                               "default_md = sha256\n"
                               "policy = policy_any\n"
                               "unique_subject = no\n"
                               "copy_extensions = none\n"
                               "[policy_any]\n"
                               "commonName = supplied\n";

static int join(char *dst, const char *dir, const char *name)
{
    int n = snprintf(dst, TESTCERTS_PATH_MAX, "%s/%s", dir, name);

    return n > 0 && n < TESTCERTS_PATH_MAX ? 0 : -1;
}

static void show_log(const char *dir)
{
    char path[TESTCERTS_PATH_MAX];
    char buf[2048];
    FILE *f;
    long size;
    size_t n;

    if (join(path, dir, LOG_NAME) != 0 || (f = fopen(path, "r")) == NULL)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "testcerts: openssl output (tail):\n%s\n", buf);
}

/* Runs argv (argv[0] looked up in PATH) with output appended to the log. */
static int run(const char *dir, const char *const *argv)
{
    char logpath[TESTCERTS_PATH_MAX];
    posix_spawn_file_actions_t fa;
    struct timespec start, now, nap = {0, 5 * 1000 * 1000};
    pid_t pid;
    int rc, status;

    if (join(logpath, dir, LOG_NAME) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "testcerts: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            fprintf(stderr, "testcerts: waitpid: %s\n", strerror(errno));
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
            TESTCERTS_CMD_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "testcerts: %s %s timed out\n", argv[0], argv[1]);
            return -1;
        }
        nanosleep(&nap, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "testcerts: failed:");
        for (size_t i = 0; argv[i] != NULL; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n");
        return -1;
    }
    return 0;
}

#define RUN(...)                                                                                   \
    do {                                                                                           \
        const char *const argv_[] = {"openssl", __VA_ARGS__, NULL};                                \
        if (run(tc->dir, argv_) != 0)                                                              \
            goto fail;                                                                             \
    } while (0)

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return -1;
    ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

static int concat(const char *dst, const char *a, const char *b)
{
    const char *src[2] = {a, b};
    FILE *out = fopen(dst, "w");
    char buf[4096];
    size_t n;
    int ok = out != NULL;

    for (int i = 0; ok && i < 2; i++) {
        FILE *in = fopen(src[i], "r");

        if (in == NULL) {
            ok = 0;
            break;
        }
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            ok = ok && fwrite(buf, 1, n, out) == n;
        fclose(in);
    }
    if (out != NULL)
        ok = (fclose(out) == 0) && ok;
    return ok ? 0 : -1;
}

/* Intermediate files, deleted with the directory. */
struct scratch {
    char cnf[TESTCERTS_PATH_MAX], index[TESTCERTS_PATH_MAX], serial[TESTCERTS_PATH_MAX];
    char csr[TESTCERTS_PATH_MAX]; /* reused by every request */
    char inter_key[TESTCERTS_PATH_MAX];
    char chain_leaf[TESTCERTS_PATH_MAX], other_ca_key[TESTCERTS_PATH_MAX];
};

int testcerts_create(struct testcerts *tc)
{
    const char *tmp = getenv("TMPDIR");
    char text[sizeof(cnf_text) + 3 * TESTCERTS_PATH_MAX];
    struct scratch sc;
    int n;

    memset(tc, 0, sizeof(*tc));
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    n = snprintf(tc->dir, sizeof(tc->dir), "%s/h8s-testcerts-XXXXXX", tmp);
    if (n <= 0 || n >= (int)sizeof(tc->dir) - 64 || mkdtemp(tc->dir) == NULL) {
        fprintf(stderr, "testcerts: cannot create a directory under %s: %s\n", tmp,
                strerror(errno));
        tc->dir[0] = '\0';
        return -1;
    }
#define PATH(dst, name)                                                                            \
    do {                                                                                           \
        if (join(dst, tc->dir, name) != 0)                                                         \
            goto fail;                                                                             \
    } while (0)
    PATH(tc->ca, "ca.pem");
    PATH(tc->ca_key, "ca.key");
    PATH(tc->server, "server.pem");
    PATH(tc->server_key, "server.key");
    PATH(tc->server_rsa, "server_rsa.pem");
    PATH(tc->server_rsa_key, "server_rsa.key");
    PATH(tc->server_chain, "server_chain.pem");
    PATH(tc->server_chain_key, "server_chain.key");
    PATH(tc->intermediate, "intermediate.pem");
    PATH(tc->client, "client.pem");
    PATH(tc->client_key, "client.key");
    PATH(tc->client_rsa, "client_rsa.pem");
    PATH(tc->client_rsa_key, "client_rsa.key");
    PATH(tc->other_ca, "other_ca.pem");
    PATH(tc->other_leaf, "other_leaf.pem");
    PATH(tc->other_leaf_key, "other_leaf.key");
    PATH(tc->expired, "expired.pem");
    PATH(tc->expired_key, "expired.key");
    PATH(tc->ca_der, "ca.der");
    PATH(tc->server_key_sec1, "server_sec1.key");
    PATH(tc->server_key_der, "server_key.der");
    PATH(tc->server_rsa_key_pkcs1, "server_rsa_pkcs1.key");
    PATH(tc->server_key_encrypted, "server_enc.key");
    PATH(tc->ed25519_key, "ed25519.key");
    PATH(tc->ed25519_ca, "ed25519_ca.pem");
    PATH(tc->secp256k1_key, "secp256k1.key");
    PATH(sc.cnf, "openssl.cnf");
    PATH(sc.index, "index.txt");
    PATH(sc.serial, "serial");
    PATH(sc.csr, "request.csr");
    PATH(sc.inter_key, "inter.key");
    PATH(sc.chain_leaf, "chain_leaf.pem");
    PATH(sc.other_ca_key, "other_ca.key");
#undef PATH
    n = snprintf(text, sizeof(text), cnf_text, tc->dir, tc->dir, tc->dir);
    if (n <= 0 || n >= (int)sizeof(text) || write_file(sc.cnf, text) != 0 ||
        write_file(sc.index, "") != 0 || write_file(sc.serial, "1000\n") != 0)
        goto fail;

    /* Roots. */
    RUN("req", "-config", sc.cnf, "-x509", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", tc->ca_key, "-out", tc->ca, "-days", "3650",
        "-subj", "/CN=h8s test CA", "-extensions", "v3_ca", "-sha256");
    RUN("req", "-config", sc.cnf, "-x509", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", sc.other_ca_key, "-out", tc->other_ca,
        "-days", "3650", "-subj", "/CN=h8s other CA", "-extensions", "v3_ca", "-sha256");

    /* Leaves signed by the CA. */
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tc->server_key, "-out", sc.csr, "-subj", "/CN=localhost");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->ca, "-CAkey", tc->ca_key, "-set_serial", "4097",
        "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_server", "-sha256", "-out",
        tc->server);
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
        tc->server_rsa_key, "-out", sc.csr, "-subj", "/CN=localhost");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->ca, "-CAkey", tc->ca_key, "-set_serial", "4098",
        "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_server", "-sha256", "-out",
        tc->server_rsa);
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tc->client_key, "-out", sc.csr, "-subj", "/CN=h8s-test-client");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->ca, "-CAkey", tc->ca_key, "-set_serial", "4099",
        "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_client", "-sha256", "-out",
        tc->client);
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
        tc->client_rsa_key, "-out", sc.csr, "-subj", "/CN=h8s-test-client");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->ca, "-CAkey", tc->ca_key, "-set_serial", "4100",
        "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_client", "-sha256", "-out",
        tc->client_rsa);

    /* Intermediate CA and a leaf under it. */
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", sc.inter_key, "-out", sc.csr, "-subj", "/CN=h8s test intermediate");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->ca, "-CAkey", tc->ca_key, "-set_serial", "4101",
        "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_inter", "-sha256", "-out",
        tc->intermediate);
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tc->server_chain_key, "-out", sc.csr, "-subj", "/CN=localhost");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->intermediate, "-CAkey", sc.inter_key,
        "-set_serial", "4102", "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_server",
        "-sha256", "-out", sc.chain_leaf);
    if (concat(tc->server_chain, sc.chain_leaf, tc->intermediate) != 0)
        goto fail;

    /* A leaf under the unrelated CA. */
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tc->other_leaf_key, "-out", sc.csr, "-subj", "/CN=localhost");
    RUN("x509", "-req", "-in", sc.csr, "-CA", tc->other_ca, "-CAkey", sc.other_ca_key,
        "-set_serial", "4103", "-days", "3650", "-extfile", sc.cnf, "-extensions", "v3_server",
        "-sha256", "-out", tc->other_leaf);

    /* Expired: `openssl ca` takes explicit dates (x509 has no such option
     * in OpenSSL 3.0). */
    RUN("req", "-config", sc.cnf, "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tc->expired_key, "-out", sc.csr, "-subj", "/CN=localhost");
    RUN("ca", "-config", sc.cnf, "-batch", "-notext", "-in", sc.csr, "-cert", tc->ca, "-keyfile",
        tc->ca_key, "-startdate", "200101000000Z", "-enddate", "210101000000Z", "-extensions",
        "v3_server", "-out", tc->expired);

    /* Other encodings. */
    RUN("x509", "-in", tc->ca, "-outform", "DER", "-out", tc->ca_der);
    RUN("ec", "-in", tc->server_key, "-out", tc->server_key_sec1);
    RUN("pkey", "-in", tc->server_key, "-outform", "DER", "-out", tc->server_key_der);
    RUN("rsa", "-in", tc->server_rsa_key, "-traditional", "-out", tc->server_rsa_key_pkcs1);
    RUN("pkey", "-in", tc->server_key, "-aes128", "-passout", "pass:h8s-test", "-out",
        tc->server_key_encrypted);
    RUN("genpkey", "-algorithm", "ed25519", "-out", tc->ed25519_key);
    RUN("req", "-config", sc.cnf, "-x509", "-new", "-key", tc->ed25519_key, "-out", tc->ed25519_ca,
        "-days", "3650", "-subj", "/CN=h8s ed25519 CA", "-extensions", "v3_ca");
    RUN("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out",
        tc->secp256k1_key);
    return 0;

fail:
    show_log(tc->dir);
    testcerts_destroy(tc);
    return -1;
}

#undef RUN

void testcerts_destroy(struct testcerts *tc)
{
    char path[TESTCERTS_PATH_MAX];
    struct dirent *de;
    DIR *d;

    if (tc->dir[0] == '\0')
        return;
    d = opendir(tc->dir);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (join(path, tc->dir, de->d_name) == 0)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(tc->dir);
    memset(tc, 0, sizeof(*tc));
}
