/*
 * proto/h8s_wire.h — names and numbers of the h8s HTTP-over-NATS wire
 * convention (docs/PROTOCOL.md), shared by the gateway and the agent.
 *
 * Header names are compared case-insensitively on receipt (NATS clients in
 * other languages may change their case) and written in the form below.
 */
#ifndef H8S_PROTO_H8S_WIRE_H
#define H8S_PROTO_H8S_WIRE_H

/* Request headers added by the gateway (Go h8s convention). */
#define H8S_HDR_PUBLISH_SUBJECT "X-H8s-PublishSubject"
#define H8S_HDR_REPLY_SUBJECT "X-H8s-ReplySubject"
#define H8S_HDR_ORIGINAL_QUERY "X-H8s-Original-Query"
#define H8S_HDR_CLOSE_SUBJECT "X-H8s-Connection-Close-Subject"
/* Ours: the raw request path, so the agent rebuilds the exact URL. */
#define H8S_HDR_ORIGINAL_PATH "X-H8s-Original-Path"

/* Response status headers (Go h8s convention). */
#define H8S_HDR_STATUS_CODE "Status-Code" /* "404" */
#define H8S_HDR_STATUS "Status"           /* "404 Not Found" */

/* Extension: streams and flow control (PROTOCOL.md §4). */
#define H8S_HDR_BODY "X-H8s-Body"                   /* request: "stream" */
#define H8S_HDR_WINDOW "X-H8s-Window"               /* request: initial response credit */
#define H8S_HDR_AGENT_SUBJECT "X-H8s-Agent-Subject" /* agent's per-exchange address */
#define H8S_HDR_CONTROL "X-H8s-Control"             /* "ready" | "credit" | "abort" */
#define H8S_HDR_CREDIT "X-H8s-Credit"               /* cumulative bytes allowed */
#define H8S_HDR_SEQ "X-H8s-Seq"                     /* chunk number, from 1 */
#define H8S_HDR_REASON "X-H8s-Reason"               /* abort reason token */

#define H8S_BODY_STREAM "stream"
#define H8S_CONTROL_READY "ready"
#define H8S_CONTROL_CREDIT "credit"
#define H8S_CONTROL_ABORT "abort"

/* Every header starting with this prefix is internal: never sent to a
 * client or an app. */
#define H8S_HDR_INTERNAL_PREFIX "X-H8s-"

/* Abort reasons, published on the connection-close subject. */
#define H8S_REASON_CLIENT_CLOSED "client_closed"
#define H8S_REASON_TIMEOUT "timeout"
#define H8S_REASON_PROTOCOL "protocol_error"
#define H8S_REASON_OVERFLOW "overflow"
/* Abort reasons an agent sends the gateway (X-H8s-Reason, PROTOCOL.md §4). */
#define H8S_REASON_BACKEND "backend_error"
#define H8S_REASON_SHUTDOWN "shutdown"

/* Interest registration (Go h8s --track-interest). */
#define H8S_INTEREST_PERIOD_MS 5000
#define H8S_INTEREST_TTL_MS 60000

#endif
