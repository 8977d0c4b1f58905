/*
 * proto/tls_pem_internal.h — shared by tls_pem.c and tls_pem_file.c only.
 */
#ifndef H8S_PROTO_TLS_PEM_INTERNAL_H
#define H8S_PROTO_TLS_PEM_INTERNAL_H

#include <stddef.h>

/* Formats a message into err (errlen bytes) when err is not NULL. */
void tls_pem_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
