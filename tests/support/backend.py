#!/usr/bin/python3
"""tests/support/backend.py — the app the agent tests talk to.

A real HTTP/1.1 server (keep-alive, threads) on 127.0.0.1, port picked by
the kernel and printed as "PORT <n>" on stdout once listening. Run with
/usr/bin/python3 (the Debian interpreter). Endpoints:

  /echo...          JSON: method, raw path, raw query, headers in order,
                    body length and sha256 (Content-Length or chunked body)
  /cookies          two Set-Cookie fields
  /status/<n>       status n (no body for 204 and 304)
  /bytes/<n>        n bytes of the pattern i % 251, with Content-Length
  /chunked/<n>      the same bytes, chunked (up to 8 KiB in one write)
  /close/<n>        the same bytes, delimited by closing the connection
  /sse/<k>/<ms>     k server-sent events, <ms> apart, chunked
  /slow/<ms>        answers after <ms>
  /forever          chunked, 1 KiB every 50 ms until the client goes away
  /die/<n>          chunked, n bytes, then the connection is reset (no last chunk)
  /whoami           the id given on the command line
  /stats            JSON counters: requests, connections, aborted
Every wait is bounded; the process ends when its parent does (the test
harness asks the kernel for that) or on SIGTERM.
"""
import hashlib
import http.server
import json
import socket
import socketserver
import struct
import sys
import threading
import time

PATTERN = bytes(i % 251 for i in range(251)) * 261  # 65511 bytes, whole periods

LOCK = threading.Lock()
STATS = {"requests": 0, "connections": 0, "aborted": 0, "forever_active": 0}
SERVER_ID = sys.argv[1] if len(sys.argv) > 1 else "backend"


def bump(key, by=1):
    with LOCK:
        STATS[key] += by


def pattern_chunks(n, size=65511):
    off = 0
    while off < n:
        k = min(size, n - off)
        start = off % 251
        yield PATTERN[start:start + k] if start + k <= len(PATTERN) else (PATTERN[start:] + PATTERN)[:k]
        off += k


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        bump("connections")

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        h = hashlib.sha256()
        total = 0
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    data = self.rfile.read(min(left, 1 << 16))
                    if not data:
                        raise ConnectionError("short chunk")
                    h.update(data)
                    left -= len(data)
                    total += len(data)
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length", "0") or "0")
            while left:
                data = self.rfile.read(min(left, 1 << 16))
                if not data:
                    raise ConnectionError("short body")
                h.update(data)
                left -= len(data)
                total += len(data)
        return total, h.hexdigest()

    def send_bytes(self, status, body, ctype="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def handle_any(self):
        bump("requests")
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        name = parts[1] if len(parts) > 1 else ""
        try:
            body_len, body_sha = self.read_body()
        except (ValueError, ConnectionError):
            self.send_bytes(400, b"bad body\n", "text/plain")
            self.close_connection = True
            return
        if name == "echo" or name == "":
            doc = {
                "method": self.command,
                "path": path,
                "query": query,
                "has_query": "?" in self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": body_len,
                "body_sha256": body_sha,
                "server": SERVER_ID,
            }
            self.send_bytes(200, json.dumps(doc).encode(), "application/json")
        elif name == "cookies":
            self.send_bytes(200, b"ok", "text/plain",
                            [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; HttpOnly")])
        elif name == "status":
            code = int(parts[2])
            self.send_bytes(code, b"" if code in (204, 304) else b"status %d\n" % code, "text/plain",
                            [("ETag", '"v1"')])
        elif name == "bytes":
            n = int(parts[2])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                for c in pattern_chunks(n):
                    self.wfile.write(c)
        elif name == "chunked" and int(parts[2]) <= 8192 and self.command != "HEAD":
            # Small: head, chunk and last chunk in one write, as buffering
            # servers send them.
            data = b"".join(pattern_chunks(int(parts[2])))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") + b"0\r\n\r\n")
        elif name == "chunked":
            n = int(parts[2])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for c in pattern_chunks(n, 8192):
                    self.chunk(c)
                self.wfile.write(b"0\r\n\r\n")
        elif name == "close":
            n = int(parts[2])
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for c in pattern_chunks(n):
                self.wfile.write(c)
            self.close_connection = True
        elif name == "sse":
            count, ms = int(parts[2]), int(parts[3])
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for i in range(count):
                self.chunk(b"data: event %d\n\n" % i)
                self.wfile.flush()
                time.sleep(ms / 1000.0)
            self.wfile.write(b"0\r\n\r\n")
        elif name == "slow":
            time.sleep(min(int(parts[2]), 20000) / 1000.0)
            self.send_bytes(200, b"slow\n", "text/plain")
        elif name == "forever":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            bump("forever_active")
            try:
                for _ in range(1200):  # at most a minute
                    self.chunk(b"x" * 1024)
                    self.wfile.flush()
                    time.sleep(0.05)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                bump("aborted")
                self.close_connection = True
            finally:
                bump("forever_active", -1)
        elif name == "die":
            # A chunked answer cut off after n bytes: no last chunk, reset.
            n = int(parts[2])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for c in pattern_chunks(n, 8192):
                self.chunk(c)
            self.wfile.flush()
            time.sleep(0.2)
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif name == "whoami":
            self.send_bytes(200, SERVER_ID.encode(), "text/plain")
        elif name == "stats":
            with LOCK:
                doc = dict(STATS)
            self.send_bytes(200, json.dumps(doc).encode(), "application/json")
        else:
            self.send_bytes(404, b"not found\n", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any
    do_TRACE = do_PURGE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that go away mid-answer are part of the tests.
        pass


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
