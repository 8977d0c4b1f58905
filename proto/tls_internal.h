/*
 * proto/tls_internal.h — declarations shared by the tls_* files only.
 */
#ifndef H8S_PROTO_TLS_INTERNAL_H
#define H8S_PROTO_TLS_INTERNAL_H

#include "proto/tls.h"

/*
 * Prepares the validator: minimal engine with default algorithms and the
 * anchors (borrowed), no name to match. Install it in an engine with
 * br_ssl_engine_set_x509(eng, &x->vtable).
 */
void tls_x509_init(struct tls_x509 *x, const br_x509_trust_anchor *ta, size_t n);

/*
 * Sets the name the server certificate must carry. IPv4 and IPv6 literals
 * switch to iPAddress matching; anything else must be a DNS name (one
 * trailing dot dropped). Returns 0, or TLS_E_SERVER_NAME when the name is
 * empty, longer than TLS_SERVER_NAME_MAX, or not a valid host name.
 */
int tls_x509_set_name(struct tls_x509 *x, const char *name);

#endif
