#!/usr/bin/python3
"""tests/support/nats_responder.py — an h8s responder written directly
against the NATS client protocol (a plain TCP socket, no client library,
no h8s code), the way someone would answer h8s requests in any language
from docs/PROTOCOL.md alone.

Usage: nats_responder.py <nats port on 127.0.0.1> <reversed host>

Subscribes to h8s.http.*.<rhost>.> and answers by the first path token:
  /plain         a reply without headers: body "plain answer <METHOD>\\n"
  /full          headers with Status-Code 201, Content-Length, two X-Multi
                 values and an internal X-H8s-Internal that must not leak
  /stream        a streamed reply as the Go h8s sends it: headers and
                 "part 0\\n", then "part 1..3\\n" 300 ms apart, no sequence
                 numbers, then an empty message
  /seq           the same with X-H8s-Seq 1, 2, ... on every later message
  /gap           X-H8s-Seq 1 then 3: a responder bug the gateway must catch
  /headers       a plain reply whose body is the request's header block
  /flood/<n>     a stream of n bytes ("flood" repeated) published as fast
                 as possible, ignoring flow control
Prints READY once the server has its subscription (PING/PONG round trip).
Ends when the server closes the connection, or on SIGTERM.
"""
import socket
import sys
import threading
import time

SEND_LOCK = threading.Lock()


def send(sock, data):
    with SEND_LOCK:
        sock.sendall(data)


def pub(sock, subject, payload=b"", hdr=None):
    subj = subject.encode()
    if hdr is None:
        send(sock, b"PUB %s %d\r\n%s\r\n" % (subj, len(payload), payload))
        return
    block = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in hdr) + b"\r\n"
    send(sock, b"HPUB %s %d %d\r\n%s%s\r\n" % (subj, len(block), len(block) + len(payload), block, payload))


def stream(sock, reply, seq, gap=False):
    pub(sock, reply, b"part 0\n", [("Status-Code", "200"), ("Content-Type", "text/plain")])
    n = 1
    for i in range(1, 4):
        time.sleep(0.3)
        if gap and i == 2:
            n += 1
        pub(sock, reply, b"part %d\n" % i, [("X-H8s-Seq", str(n))] if seq else None)
        n += 1
    pub(sock, reply, b"", [("X-H8s-Seq", str(n))] if seq else None)


def flood(sock, reply, total):
    pub(sock, reply, b"", [("Status-Code", "200"), ("Content-Type", "application/octet-stream")])
    piece = b"flood" * 12000
    sent = 0
    try:
        while sent < total:
            k = min(len(piece), total - sent)
            pub(sock, reply, piece[:k])
            sent += k
        pub(sock, reply, b"")
    except OSError:
        pass


def handle(sock, rtoks, subject, reply, hdr, payload):
    toks = subject.split(".")
    path = toks[3 + rtoks:]
    mode = path[0] if path else ""
    method = toks[2]
    if not reply:
        return
    if mode == "plain":
        pub(sock, reply, b"plain answer %s\n" % method.encode())
    elif mode == "full":
        body = b"full answer\n"
        pub(sock, reply, body, [("Status-Code", "201"), ("Status", "201 Created"),
                                ("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                                ("X-Multi", "one"), ("X-Multi", "two"), ("X-H8s-Internal", "secret")])
    elif mode in ("stream", "seq", "gap"):
        threading.Thread(target=stream, args=(sock, reply, mode != "stream", mode == "gap"),
                         daemon=True).start()
    elif mode == "headers":
        pub(sock, reply, hdr)
    elif mode == "flood" and len(path) > 1:
        threading.Thread(target=flood, args=(sock, reply, int(path[1])), daemon=True).start()
    else:
        body = b"no such mode\n"
        pub(sock, reply, body, [("Status-Code", "404"), ("Content-Length", str(len(body)))])


def main():
    port, rhost = int(sys.argv[1]), sys.argv[2]
    rtoks = len(rhost.split("."))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(None)
    f = sock.makefile("rb")
    if not f.readline().startswith(b"INFO "):
        sys.exit("no INFO from the server")
    send(sock, b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
               b'"protocol":1,"name":"nats_responder.py"}\r\n')
    send(sock, b"SUB h8s.http.*.%s.> 1\r\nPING\r\n" % rhost.encode())
    ready = False
    while True:
        line = f.readline()
        if not line:
            return
        parts = line.split()
        if not parts:
            continue
        op = parts[0].upper()
        if op == b"PING":
            send(sock, b"PONG\r\n")
        elif op == b"PONG" and not ready:
            ready = True
            print("READY", flush=True)
        elif op == b"-ERR":
            sys.exit("server error: %s" % line.decode(errors="replace").strip())
        elif op == b"MSG":
            reply = parts[3].decode() if len(parts) == 5 else ""
            data = f.read(int(parts[-1]) + 2)[:-2]
            handle(sock, rtoks, parts[1].decode(), reply, b"", data)
        elif op == b"HMSG":
            reply = parts[3].decode() if len(parts) == 6 else ""
            hlen, tlen = int(parts[-2]), int(parts[-1])
            data = f.read(tlen + 2)[:-2]
            handle(sock, rtoks, parts[1].decode(), reply, data[:hlen], data[hlen:])


if __name__ == "__main__":
    main()
