#!/usr/bin/env bash
# bench/bench_http.sh — `make bench-http`: HTTP through the h8s tunnel
# against nginx, on this machine, loopback only.
#
# One load generator, wrk (keep-alive, BENCH_CONNS connections, 1 KiB
# answers), against four set-ups that all end at the same nginx backend
# (`return 200` with a 1 KiB body):
#   A  the backend directly
#   B  one nginx proxy_pass in front of it (upstream keep-alive)
#   C  two nginx proxies in series (the HTTP-only analogue of a bridge's
#      two hops)
#   D  h8sd → nats-server → h8srd → the backend
# run interleaved (A B C D A B C D ...) for BENCH_ROUNDS rounds of
# BENCH_SECONDS each, reporting the medians of req/s and p50/p99 latency,
# the ratios D/B, D/C, D/A, and CPU time per request (utime + stime from
# /proc, every process and thread) of h8sd + h8srd together beside the one
# nginx proxy of B (master and workers).
#
# Environment: BUILD (build), BENCH_ROUNDS (5), BENCH_SECONDS (5),
# BENCH_CONNS (64), BENCH_THREADS (2), BENCH_NGINX_WORKERS (auto),
# BENCH_H8SD_WORKERS (0: one per CPU), BENCH_KEEP=1 keeps the directory.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
rounds=${BENCH_ROUNDS:-5}
dur=${BENCH_SECONDS:-5}
conns=${BENCH_CONNS:-64}
threads=${BENCH_THREADS:-2}
ngx_workers=${BENCH_NGINX_WORKERS:-auto}
gw_workers=${BENCH_H8SD_WORKERS:-0}
host=bench.test
h8sd="$here/$build/h8sd"
h8srd="$here/$build/h8srd"
hz=$(getconf CLK_TCK)

for b in "$h8sd" "$h8srd"; do
    [ -x "$b" ] || { echo "bench-http: $b missing (make all)" >&2; exit 1; }
done
for c in wrk nginx nats-server curl; do
    command -v $c >/dev/null || { echo "bench-http: $c missing (make bench-deps deps)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/h8s-bench-http-XXXXXX")
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for f in "$dir"/*.log "$dir"/*/error.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    fi
    [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $dir" || rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N free loopback ports (bound, then released; nothing else runs here).
read -r p_back p_proxy p_front p_gw < <(/usr/bin/python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

body=$(head -c 1024 /dev/zero | tr '\0' 'x')

# nginx instance: name, port, location body.
nginx_conf() {
    local name=$1 port=$2 upstream=$3
    local pre="$dir/$name"
    mkdir -p "$pre/tmp"
    {
        echo "worker_processes $ngx_workers;"
        echo "pid $pre/nginx.pid;"
        echo "error_log $pre/error.log warn;"
        echo "events { worker_connections 4096; }"
        echo "http {"
        echo "  access_log off;"
        echo "  keepalive_requests 10000000;"
        echo "  keepalive_timeout 300s;"
        for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $pre/tmp/$t;"; done
        if [ -n "$upstream" ]; then
            echo "  upstream up { server 127.0.0.1:$upstream; keepalive 128; keepalive_requests 10000000; }"
            echo "  server { listen 127.0.0.1:$port; location / {"
            echo "    proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
        else
            echo "  server { listen 127.0.0.1:$port; location / {"
            echo "    default_type text/plain; return 200 \"$body\"; } }"
        fi
        echo "}"
    } >"$pre/nginx.conf"
    nginx -e "$pre/error.log" -p "$pre" -c "$pre/nginx.conf" -g 'daemon off;' &
    pids+=($!)
    eval "pid_$name=$!"
}

wait_200() {
    for _ in $(seq 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$1/")" = 200 ] && return 0
        sleep 0.05
    done
    echo "bench-http: 127.0.0.1:$1 does not answer 200" >&2
    return 1
}

nginx_conf back "$p_back" ""
nginx_conf proxy "$p_proxy" "$p_back"
nginx_conf front "$p_front" "$p_proxy"

cat >"$dir/nats.conf" <<EOF
listen: 127.0.0.1:-1
ports_file_dir: "$dir"
EOF
nats-server -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 &
pids+=($!)
pid_nats=$!
for _ in $(seq 100); do [ -s "$dir/nats-server_$pid_nats.ports" ] && break; sleep 0.05; done
nats_url=$(grep -o 'nats://127.0.0.1:[0-9]*' "$dir/nats-server_$pid_nats.ports")

"$h8srd" --nats-url="$nats_url" --hostname=$host --backend-url="http://127.0.0.1:$p_back" \
    --log-level=warn >"$dir/h8srd.log" 2>&1 &
pids+=($!)
pid_h8srd=$!
"$h8sd" --nats-url="$nats_url" --listen="127.0.0.1:$p_gw" --workers="$gw_workers" \
    --access-log=false --log-level=warn >"$dir/h8sd.log" 2>&1 &
pids+=($!)
pid_h8sd=$!

for p in $p_back $p_proxy $p_front $p_gw; do wait_200 "$p"; done

# CPU ticks (utime + stime, all threads) of the given pids and their
# child processes (nginx workers).
ticks() {
    local total=0 p c
    for p in "$@"; do
        for c in $p $(pgrep -P "$p" || true); do
            [ -r "/proc/$c/stat" ] || continue
            total=$((total + $(sed 's/.*) //' "/proc/$c/stat" | awk '{print $12 + $13}')))
        done
    done
    echo $total
}

# Latency in wrk's units (us, ms, s) to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A rps p50 p99 cpu nats_cpu port label
port[A]=$p_back port[B]=$p_proxy port[C]=$p_front port[D]=$p_gw
label[A]="A direct nginx" label[B]="B one nginx proxy" label[C]="C two nginx proxies"
label[D]="D h8sd>NATS>h8srd"

# Warm-up: connections, upstream pools, page cache.
for k in A B C D; do wrk -t"$threads" -c"$conns" -d1s -H "Host: $host" "http://127.0.0.1:${port[$k]}/" >/dev/null; done

# Other work on the machine skews every figure (throughput most): say how
# busy it was.
load() { cut -d' ' -f1 /proc/loadavg; }
echo "bench-http: wrk -t$threads -c$conns -d${dur}s, $rounds rounds interleaved A B C D;" \
    "nginx workers: $ngx_workers, h8sd workers: $gw_workers (0 = one per CPU), $(nproc) CPUs," \
    "load average $(load) before the warm-up"
for ((r = 1; r <= rounds; r++)); do
    for k in A B C D; do
        case $k in
        B) t0=$(ticks "$pid_proxy") ;;
        D) t0=$(ticks "$pid_h8sd" "$pid_h8srd"); n0=$(ticks "$pid_nats") ;;
        esac
        out=$(wrk -t"$threads" -c"$conns" -d"${dur}s" --latency -H "Host: $host" "http://127.0.0.1:${port[$k]}/")
        case $k in
        B) t1=$(ticks "$pid_proxy") ;;
        D) t1=$(ticks "$pid_h8sd" "$pid_h8srd"); n1=$(ticks "$pid_nats") ;;
        esac
        if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
            echo "bench-http: errors in run $k:" >&2
            grep 'Non-2xx\|Socket errors' <<<"$out" >&2
        fi
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        rps[$k]+="$(awk '/^Requests\/sec/ {print $2}' <<<"$out") "
        p50[$k]+="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") "
        p99[$k]+="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") "
        case $k in
        B | D)
            # Microseconds of CPU per request.
            cpu[$k]+="$(awk -v t=$((t1 - t0)) -v n="$reqs" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}') "
            ;;
        esac
        if [ $k = D ]; then
            nats_cpu[D]+="$(awk -v t=$((n1 - n0)) -v n="$reqs" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}') "
        fi
        printf '  round %d %-22s %10s req/s\n' "$r" "${label[$k]}" "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    done
done

echo
echo "load average $(load) at the end (every process of the benchmark included)"
printf '%-22s %12s %10s %10s\n' "median of $rounds" "req/s" "p50 ms" "p99 ms"
declare -A m
for k in A B C D; do
    m[$k]=$(median <<<"${rps[$k]}")
    printf '%-22s %12.0f %10.3f %10.3f\n' "${label[$k]}" "${m[$k]}" "$(median <<<"${p50[$k]}")" \
        "$(median <<<"${p99[$k]}")"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "throughput: tunnel/nginx proxy $(ratio "${m[D]}" "${m[B]}")x (target >= 0.70)," \
    "tunnel/two nginx $(ratio "${m[D]}" "${m[C]}")x, tunnel/direct $(ratio "${m[D]}" "${m[A]}")x," \
    "two nginx/one nginx $(ratio "${m[C]}" "${m[B]}")x"
cb=$(median <<<"${cpu[B]}")
cd=$(median <<<"${cpu[D]}")
echo "CPU per request: h8sd + h8srd ${cd} us, one nginx proxy ${cb} us" \
    "(ratio $(ratio "$cd" "$cb")x, target <= 1.00); nats-server ${nats_cpu[D]:+$(median <<<"${nats_cpu[D]}")} us"
