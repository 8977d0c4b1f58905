/*
 * proto/tls_err.c — tls_strerror (declared in tls.h): names for BearSSL's
 * engine, X.509 and alert codes and for our TLS_E_* codes, written for
 * operators reading a log line rather than for BearSSL developers.
 */
#include "proto/tls.h"

struct tls_err_name {
    int code;
    const char *text;
};

static const struct tls_err_name tls_err_names[] = {
    {0, "no error"},
    {TLS_E_CONFIG, "invalid TLS configuration"},
    {TLS_E_SERVER_NAME, "invalid server name (empty, too long or not a host name)"},
    {TLS_E_CLOSED, "TLS connection closed"},
    {TLS_E_TRUNCATED, "connection closed without TLS close_notify (truncated)"},
    {TLS_E_USAGE, "TLS API misuse: acknowledged more bytes than available"},

    {-BR_ERR_BAD_PARAM, "TLS engine: bad parameter"},
    {-BR_ERR_BAD_STATE, "TLS engine: call in the wrong state"},
    {-BR_ERR_UNSUPPORTED_VERSION, "peer does not support TLS 1.2"},
    {-BR_ERR_BAD_VERSION, "record with unexpected protocol version"},
    {-BR_ERR_BAD_LENGTH, "record with invalid length"},
    {-BR_ERR_TOO_LARGE, "record too large"},
    {-BR_ERR_BAD_MAC, "record decryption failed (bad MAC)"},
    {-BR_ERR_NO_RANDOM, "no randomness source available"},
    {-BR_ERR_UNKNOWN_TYPE, "record of unknown type"},
    {-BR_ERR_UNEXPECTED, "unexpected message (not TLS, or out of order)"},
    {-BR_ERR_BAD_CCS, "malformed ChangeCipherSpec"},
    {-BR_ERR_BAD_ALERT, "malformed alert"},
    {-BR_ERR_BAD_HANDSHAKE, "malformed handshake message"},
    {-BR_ERR_OVERSIZED_ID, "session ID too long"},
    {-BR_ERR_BAD_CIPHER_SUITE, "no common cipher suite (or server chose one not offered)"},
    {-BR_ERR_BAD_COMPRESSION, "unsupported compression"},
    {-BR_ERR_BAD_FRAGLEN, "invalid maximum fragment length"},
    {-BR_ERR_BAD_SECRENEG, "secure renegotiation failure"},
    {-BR_ERR_EXTRA_EXTENSION, "server sent an extension the client did not ask for"},
    {-BR_ERR_BAD_SNI, "malformed server name indication"},
    {-BR_ERR_BAD_HELLO_DONE, "malformed ServerHelloDone"},
    {-BR_ERR_LIMIT_EXCEEDED, "handshake message exceeds a limit"},
    {-BR_ERR_BAD_FINISHED, "Finished message mismatch"},
    {-BR_ERR_RESUME_MISMATCH, "session resumption mismatch"},
    {-BR_ERR_INVALID_ALGORITHM, "unsupported or invalid algorithm"},
    {-BR_ERR_BAD_SIGNATURE, "invalid handshake signature"},
    {-BR_ERR_WRONG_KEY_USAGE, "certificate key usage forbids this use"},
    {-BR_ERR_NO_CLIENT_AUTH, "client certificate required but missing or not accepted"},
    {-BR_ERR_IO, "TLS I/O error"},

    {-BR_ERR_X509_INVALID_VALUE, "X.509: invalid value"},
    {-BR_ERR_X509_TRUNCATED, "X.509: truncated certificate"},
    {-BR_ERR_X509_EMPTY_CHAIN, "X.509: empty certificate chain"},
    {-BR_ERR_X509_INNER_TRUNC, "X.509: inner element overflows its container"},
    {-BR_ERR_X509_BAD_TAG_CLASS, "X.509: unsupported tag class"},
    {-BR_ERR_X509_BAD_TAG_VALUE, "X.509: unsupported tag value"},
    {-BR_ERR_X509_INDEFINITE_LENGTH, "X.509: indefinite length"},
    {-BR_ERR_X509_EXTRA_ELEMENT, "X.509: unexpected extra element"},
    {-BR_ERR_X509_UNEXPECTED, "X.509: unexpected element"},
    {-BR_ERR_X509_NOT_CONSTRUCTED, "X.509: expected constructed element"},
    {-BR_ERR_X509_NOT_PRIMITIVE, "X.509: expected primitive element"},
    {-BR_ERR_X509_PARTIAL_BYTE, "X.509: BIT STRING not a whole number of bytes"},
    {-BR_ERR_X509_BAD_BOOLEAN, "X.509: invalid BOOLEAN"},
    {-BR_ERR_X509_OVERFLOW, "X.509: value out of range"},
    {-BR_ERR_X509_BAD_DN, "X.509: invalid distinguished name"},
    {-BR_ERR_X509_BAD_TIME, "X.509: invalid date"},
    {-BR_ERR_X509_UNSUPPORTED, "X.509: unsupported feature or key type"},
    {-BR_ERR_X509_LIMIT_EXCEEDED, "X.509: certificate exceeds a size limit"},
    {-BR_ERR_X509_WRONG_KEY_TYPE, "X.509: key type does not match"},
    {-BR_ERR_X509_BAD_SIGNATURE, "X.509: bad certificate signature"},
    {-BR_ERR_X509_TIME_UNKNOWN, "X.509: current time unknown"},
    {-BR_ERR_X509_EXPIRED, "certificate expired or not yet valid"},
    {-BR_ERR_X509_DN_MISMATCH, "X.509: issuer name does not match the CA's subject"},
    {-BR_ERR_X509_BAD_SERVER_NAME, "server name mismatch (certificate is not for this host)"},
    {-BR_ERR_X509_CRITICAL_EXTENSION, "X.509: unsupported critical extension"},
    {-BR_ERR_X509_NOT_CA, "X.509: issuer is not a CA"},
    {-BR_ERR_X509_FORBIDDEN_KEY_USAGE, "X.509: key usage forbids this use"},
    {-BR_ERR_X509_WEAK_PUBLIC_KEY, "X.509: public key too weak"},
    {-BR_ERR_X509_NOT_TRUSTED, "certificate not trusted (no chain to a configured CA)"},
};

/* Fatal alerts (RFC 5246 7.2, RFC 8446 6), as received and as sent. */
struct tls_alert_name {
    int alert;
    const char *recv, *sent;
};

#define TLS_ALERT(n, s)                                                                            \
    {                                                                                              \
        n, "received fatal alert: " s, "sent fatal alert: " s                                      \
    }

static const struct tls_alert_name tls_alert_names[] = {
    TLS_ALERT(0, "close_notify"),
    TLS_ALERT(10, "unexpected_message"),
    TLS_ALERT(20, "bad_record_mac"),
    TLS_ALERT(21, "decryption_failed"),
    TLS_ALERT(22, "record_overflow"),
    TLS_ALERT(30, "decompression_failure"),
    TLS_ALERT(40, "handshake_failure"),
    TLS_ALERT(41, "no_certificate"),
    TLS_ALERT(42, "bad_certificate"),
    TLS_ALERT(43, "unsupported_certificate"),
    TLS_ALERT(44, "certificate_revoked"),
    TLS_ALERT(45, "certificate_expired"),
    TLS_ALERT(46, "certificate_unknown"),
    TLS_ALERT(47, "illegal_parameter"),
    TLS_ALERT(48, "unknown_ca"),
    TLS_ALERT(49, "access_denied"),
    TLS_ALERT(50, "decode_error"),
    TLS_ALERT(51, "decrypt_error"),
    TLS_ALERT(60, "export_restriction"),
    TLS_ALERT(70, "protocol_version"),
    TLS_ALERT(71, "insufficient_security"),
    TLS_ALERT(80, "internal_error"),
    TLS_ALERT(86, "inappropriate_fallback"),
    TLS_ALERT(90, "user_canceled"),
    TLS_ALERT(100, "no_renegotiation"),
    TLS_ALERT(109, "missing_extension"),
    TLS_ALERT(110, "unsupported_extension"),
    TLS_ALERT(112, "unrecognized_name"),
    TLS_ALERT(113, "bad_certificate_status_response"),
    TLS_ALERT(115, "unknown_psk_identity"),
    TLS_ALERT(116, "certificate_required"),
    TLS_ALERT(120, "no_application_protocol"),
};

#undef TLS_ALERT

const char *tls_strerror(int err)
{
    int code = -err;

    for (size_t i = 0; i < sizeof(tls_err_names) / sizeof(tls_err_names[0]); i++)
        if (tls_err_names[i].code == err)
            return tls_err_names[i].text;
    if (code >= BR_ERR_RECV_FATAL_ALERT && code < BR_ERR_RECV_FATAL_ALERT + 256) {
        for (size_t i = 0; i < sizeof(tls_alert_names) / sizeof(tls_alert_names[0]); i++)
            if (tls_alert_names[i].alert == code - BR_ERR_RECV_FATAL_ALERT)
                return tls_alert_names[i].recv;
        return "received fatal alert (unknown type)";
    }
    if (code >= BR_ERR_SEND_FATAL_ALERT && code < BR_ERR_SEND_FATAL_ALERT + 256) {
        for (size_t i = 0; i < sizeof(tls_alert_names) / sizeof(tls_alert_names[0]); i++)
            if (tls_alert_names[i].alert == code - BR_ERR_SEND_FATAL_ALERT)
                return tls_alert_names[i].sent;
        return "sent fatal alert (unknown type)";
    }
    return "unknown TLS error";
}
