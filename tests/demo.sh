#!/usr/bin/env bash
# tests/demo.sh — `make demo`: the whole tunnel on this machine, shown with
# real requests.
#
# Starts, in a fresh temporary directory and on free loopback ports only:
# a nats-server, a small sample app (python3 http.server), a WebSocket echo
# app (python3-websockets), h8srd in front of the apps and h8sd in front of
# everything; then sends a few requests through h8sd with curl and one
# WebSocket session, printing each command and its answer; then shuts
# everything down (also on Ctrl-C or on any failure). Needs nothing from
# the network.
#
# Usage: tests/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail

build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
h8sd="$here/$build/h8sd"
h8srd="$here/$build/h8srd"
python=/usr/bin/python3
host=app.example.com

for bin in "$h8sd" "$h8srd"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing: run 'make all' first" >&2; exit 1; }
done
command -v nats-server >/dev/null || { echo "demo: nats-server missing: run 'make deps'" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl missing: run 'make deps'" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/h8s-demo-XXXXXX")
pids=()
names=()

# Stops every process started here, newest first, and removes the directory.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    echo
    echo "== shutting down"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        local p=${pids[i]} st=0
        # Bounded: a process still there after 10 s is killed.
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || st=$?
        case ${names[i]} in
        h8s*) echo "${names[i]} stopped (exit status $st)" ;;
        *) echo "${names[i]} stopped" ;;
        esac
    done
    if [ $rc -ne 0 ]; then
        echo "demo failed (status $rc); logs:"
        for f in "$dir"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
    fi
    rm -rf "$dir"
    echo "done"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 10 s for a file to contain a pattern.
wait_for() {
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: timed out waiting for '$2' in $1" >&2
    return 1
}

step() { echo; echo "== $*"; }

step "nats-server (NATS, the bus), on a free loopback port"
cat >"$dir/nats.conf" <<EOF
listen: 127.0.0.1:-1
ports_file_dir: "$dir"
EOF
nats-server -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 &
pids+=($!) names+=(nats-server)
wait_for "$dir/nats-server_$!.ports" '"nats"'
nats_url=$(grep -o 'nats://127.0.0.1:[0-9]*' "$dir/nats-server_${pids[0]}.ports")
echo "nats-server at $nats_url"

step "the private app: a python3 http.server on a loopback port of its own"
cat >"$dir/app.py" <<'EOF'
import hashlib, http.server, json, sys, time, urllib.parse

class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in separate writes: without this, Nagle's
    # algorithm holds the body back for a delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("app: %s %s\n" % (self.command, self.path))

    def reply(self, body, ctype="text/plain; charset=utf-8"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(1, 6):
                line = b"tick %d at %s\n" % (i, time.strftime("%H:%M:%S").encode())
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                time.sleep(0.5)
            self.wfile.write(b"0\r\n\r\n")
            return
        q = urllib.parse.parse_qs(url.query)
        name = q.get("name", ["world"])[0]
        self.reply(json.dumps({"hello": name, "path": url.path, "query": url.query,
                               "seen_host": self.headers.get("Host"),
                               "forwarded_for": self.headers.get("X-Forwarded-For")},
                              indent=1).encode() + b"\n", "application/json")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.reply(b"received %d bytes, sha256 %s\n" % (n, hashlib.sha256(body).hexdigest().encode()))

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
print("PORT %d" % srv.server_address[1], flush=True)
srv.serve_forever()
EOF
"$python" "$dir/app.py" >"$dir/app.log" 2>&1 &
pids+=($!) names+=(app)
wait_for "$dir/app.log" '^PORT '
app_port=$(awk '/^PORT /{print $2; exit}' "$dir/app.log")
echo "app at 127.0.0.1:$app_port (nothing public ever connects to it)"

step "a private WebSocket app: an echo server (python3-websockets) on another loopback port"
cat >"$dir/ws_app.py" <<'EOF'
import asyncio, sys, websockets

async def echo(ws, path):
    async for msg in ws:
        await ws.send(msg)

async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as srv:
        print("PORT %d" % srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
EOF
"$python" "$dir/ws_app.py" >"$dir/ws_app.log" 2>&1 &
pids+=($!) names+=(ws-app)
wait_for "$dir/ws_app.log" '^PORT '
ws_port=$(awk '/^PORT /{print $2; exit}' "$dir/ws_app.log")
ws_host=chat.example.com
echo "WebSocket app at 127.0.0.1:$ws_port"

step "h8srd, the agent next to the apps: connects out to NATS, opens no port"
echo "\$ h8srd --nats-url=$nats_url --hostname=$host --backend-url=http://127.0.0.1:$app_port --route=$ws_host=http://127.0.0.1:$ws_port"
"$h8srd" --nats-url="$nats_url" --hostname="$host" --backend-url="http://127.0.0.1:$app_port" \
    --route="$ws_host=http://127.0.0.1:$ws_port" >"$dir/h8srd.log" 2>&1 &
pids+=($!) names+=(h8srd)
wait_for "$dir/h8srd.log" 'event=agent_ready'

step "h8sd, the gateway: public HTTP in, NATS out"
echo "\$ h8sd --nats-url=$nats_url --listen=127.0.0.1:0"
"$h8sd" --nats-url="$nats_url" --listen=127.0.0.1:0 >"$dir/h8sd.log" 2>&1 &
pids+=($!) names+=(h8sd)
wait_for "$dir/h8sd.log" 'event=listening'
gw_port=$(grep -o 'event=listening.* port=[0-9]*' "$dir/h8sd.log" | head -n 1 | grep -o '[0-9]*$')
gw="http://127.0.0.1:$gw_port"
echo "h8sd at $gw"

# The agent may still be subscribing: wait (bounded) until a request gets
# through rather than a 503.
for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "$gw/hello") || true
    [ "$code" = 200 ] && break
    sleep 0.1
done
[ "$code" = 200 ] || { echo "demo: the tunnel did not come up (last status $code)" >&2; exit 1; }

run() {
    echo
    printf '$'
    printf ' %q' "$@"
    echo
    "$@"
}

step "1. GET with a query string, through h8sd → NATS → h8srd → app"
run curl -sS -i -H "Host: $host" "$gw/hello?name=h8s&lang=en"

step "2. POST with a body (64 KiB of random bytes; compare the checksums)"
head -c 65536 /dev/urandom >"$dir/body.bin"
echo "local sha256: $(sha256sum "$dir/body.bin" | cut -d' ' -f1)"
run curl -sS -H "Host: $host" --data-binary @"$dir/body.bin" "$gw/upload"

step "3. A streamed response: each line arrives as the app writes it"
echo "\$ curl -sS -N -H 'Host: $host' $gw/stream"
curl -sS -N -H "Host: $host" "$gw/stream" | while IFS= read -r line; do
    echo "[received $(date +%H:%M:%S.%N | cut -c1-12)] $line"
done

step "4. A WebSocket through the tunnel: text and binary echoed by the private app"
cat >"$dir/ws_client.py" <<'EOF'
import asyncio, sys, websockets

async def main(port, host):
    # The URI names the public host (it becomes the Host header); the TCP
    # connection goes to the gateway on loopback.
    async with websockets.connect("ws://%s/chat" % host, host="127.0.0.1", port=port,
                                  open_timeout=10, close_timeout=5) as ws:
        for msg in ["hello through h8s", b"\x00\x01binary\xff"]:
            await ws.send(msg)
            back = await asyncio.wait_for(ws.recv(), 10)
            print("sent %-28r got back %r (%s)" % (msg, back, type(back).__name__))
        await ws.close(1000, "demo done")
        print("closed with code %d" % ws.close_code)

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
EOF
echo "\$ python3 ws_client.py   # ws://$ws_host/chat via h8sd at 127.0.0.1:$gw_port"
timeout 30 "$python" "$dir/ws_client.py" "$gw_port" "$ws_host"

step "5. A host no agent serves: 503 at once"
run curl -sS -i -H "Host: nobody.example.com" "$gw/"

step "what the daemons logged (one line per exchange; the first is the readiness probe)"
for d in h8sd h8srd; do
    grep 'event=access\|event=request' "$dir/$d.log" | sed "s/^/$d: /" | head -n 10 || true
done
