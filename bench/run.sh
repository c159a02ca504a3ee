#!/usr/bin/env bash
# The project's benchmark. Builds release binaries, starts agtpd with the booking sample
# and one runtime at a time (Rust on mod-rust; then the Python and Node.js samples on their
# SDKs, one process per CPU), and measures at 1, 16 and 64 connections with `agtp bench`:
#   (a) a call through the gateway: QUERY /rooms/availability, served by the runtime;
#   (b) an in-process baseline in the same daemon: DESCRIBE of the sample agent, which
#       passes the same gates and never crosses the gateway.
# It prints requests/s, p50, p99, the ratio (a)/(b), and the CPU time per gateway request
# of agtpd plus the runtime, read from /proc; and agtpd's resident memory with the sample
# loaded, idle and then holding 1,000 idle connections.
#
# With --php it also measures nginx + php-fpm (pm static, 8 children, FastCGI over a Unix
# socket) serving a hello-world JSON, with wrk, and reports agtpd's ratio to it.
#
# With --compare DIR it also runs, side by side, the agtpd in DIR (say, a release build of
# an earlier commit) and this build with `[tracing]` exporting to a local OTLP sink, each
# against this build with tracing off, on the in-process and the Rust gateway paths.
#
#   bench/run.sh [--php] [--compare DIR] [--duration 5s] [--connections "1 16 64"]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5s warmup=1s conns="1 16 64" php=false compare=
while [ $# -gt 0 ]; do
    case "$1" in
        --php) php=true ;;
        --compare) compare=$2; shift ;;
        --duration) duration=$2; shift ;;
        --connections) conns=$2; shift ;;
        *) echo "usage: bench/run.sh [--php] [--compare DIR] [--duration 5s] [--connections \"1 16 64\"]" >&2; exit 64 ;;
    esac
    shift
done

cargo build --release --locked -q -p agtpd -p agtp -p booking-rust
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=44880
agent=d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c
uri="agtp://$agent@127.0.0.1:$port"
gateway_call=(QUERY "/rooms/availability?check_in=2026-12-01&check_out=2026-12-03")
baseline_call=(DESCRIBE /)

ticks() { # utime + stime of the given pids, in clock ticks
    local total=0
    for p in "$@"; do
        read -r -a f < "/proc/$p/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

start_daemon() { # [agtpd binary] [port] [name] [extra config]: sets $daemon
    local agtpd=${1:-$bin/agtpd} at=${2:-$port} name=${3:-agtpd}
    # The sample's config without its [[runtime]] section: each row's runtime is the only
    # one serving, so the requests and the CPU counted are its own.
    { sed '/^\[\[runtime\]\]/,$d' samples/booking/agtpd.toml; echo "${4:-}"; } > "$work/$name.toml"
    AGTPD_LOG_LEVEL=warn "$agtpd" --config "$work/$name.toml" \
        --listen "127.0.0.1:$at" --gateway-socket "$work/$name.sock" 2>"$work/$name.log" &
    daemon=$!
    pids+=("$daemon")
}

wait_ready() { # until a gateway call answers 200
    for _ in $(seq 100); do
        if "$bin/agtp" "$uri" "${gateway_call[@]}" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "bench: the runtime never answered; logs in $work" >&2
    cat "$work"/*.log >&2
    exit 1
}

bench() { # connections, then the call; prints the JSON result
    local c=$1; shift
    bench_at "$port" "$c" "$@"
}

bench_at() { # port, connections, then the call
    local at=$1 c=$2; shift 2
    "$bin/agtp" bench -c "$c" -d "$duration" --warmup "$warmup" --json "agtp://$agent@127.0.0.1:$at" "$@"
}

rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

memory() { # agtpd's RSS once the site is loaded, then with 1,000 idle client connections
    for _ in $(seq 100); do
        "$bin/agtp" "agtp://127.0.0.1:$port" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local idle held
    idle=$(rss_mb "$daemon")
    held=$(python3 - "$port" "$daemon" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
time.sleep(1)
print(next(round(int(l.split()[1]) / 1024, 1) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
PY
)
    echo "memory: agtpd with the booking sample loaded: ${idle} MB RSS idle, ${held} MB holding 1000 idle connections"
    echo
}

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_runtime() { # label, processes, then the command starting one runtime process
    local label=$1 processes=$2; shift 2
    local runtimes=()
    for i in $(seq "$processes"); do
        AGTP_GATEWAY_SOCKET="$work/agtpd.sock" AGTP_CONNECTIONS=16 "$@" 2>"$work/runtime-$i.log" &
        runtimes+=("$!")
    done
    pids+=("${runtimes[@]}")
    wait_ready
    for c in $conns; do
        local before after a b
        before=$(ticks "$daemon" "${runtimes[@]}")
        a=$(bench "$c" "${gateway_call[@]}")
        after=$(ticks "$daemon" "${runtimes[@]}")
        b=$(bench "$c" "${baseline_call[@]}")
        local a_rps b_rps requests errors cpu_us
        a_rps=$(echo "$a" | field 'd["rps"]')
        b_rps=$(echo "$b" | field 'd["rps"]')
        requests=$(echo "$a" | field 'd["requests"]')
        errors=$(echo "$a" | field 'sum(d["errors"].values())')
        # Ticks cover the warm-up too; scale by the measured share of the run.
        cpu_us=$(python3 -c "
t=($after-$before)*1e6/$(getconf CLK_TCK); w=float('${warmup%s}'); d=float('${duration%s}')
print(round(t*d/(d+w)/max($requests,1),1))")
        printf '| %-7s | %4s | %9.0f | %7s | %7s | %9.0f | %7s | %7s | %5.2f | %6s | %6s |\n' \
            "$label" "$c" "$a_rps" "$(echo "$a" | field 'd["latency_us"]["p50"]')" \
            "$(echo "$a" | field 'd["latency_us"]["p99"]')" "$b_rps" \
            "$(echo "$b" | field 'd["latency_us"]["p50"]')" "$(echo "$b" | field 'd["latency_us"]["p99"]')" \
            "$(python3 -c "print($a_rps/$b_rps)")" "$cpu_us" "$errors"
        echo "$label $c $a_rps" >> "$work/results"
    done
    kill "${runtimes[@]}"; wait "${runtimes[@]}" 2>/dev/null || true
}

ulimit -n 4096 2>/dev/null || true
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); load generator on the same CPUs"
echo
start_daemon
memory
echo '| runtime | conn | gateway/s | p50 µs  | p99 µs  | in-proc/s | p50 µs  | p99 µs  | ratio | CPU µs/req | errors |'
echo '|---------|------|-----------|---------|---------|-----------|---------|---------|-------|--------|--------|'
run_runtime rust 1 "$bin/booking-rust"
# The SDK runtimes, one process per CPU, as php-fpm and a Python or Node.js service run.
run_runtime python "$(nproc)" python3 samples/booking/python/runtime.py
run_runtime node "$(nproc)" node samples/booking/node/runtime.js

if $php; then
    bench/php.sh "$duration" "$conns" "$work/results"
fi

compare_builds() { # the agtpd in $compare, and this one tracing, each against this one
    local sink_port=$((port + 9)) others=("$compare/agtpd" "$bin/agtpd") names=(other traced)
    # An OTLP/HTTP sink that takes every export and answers 200, as a collector would.
    python3 - "$sink_port" <<'PY' 2>"$work/sink.log" &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
    pids+=("$!")
    local tracing="[tracing]
otlp_endpoint = \"http://127.0.0.1:$sink_port/v1/traces\""
    local i at
    for i in 0 1; do
        at=$((port + 1 + i))
        start_daemon "${others[$i]}" "$at" "${names[$i]}" "$([ "$i" = 1 ] && echo "$tracing")"
        AGTP_GATEWAY_SOCKET="$work/${names[$i]}.sock" AGTP_CONNECTIONS=16 "$bin/booking-rust" \
            2>"$work/runtime-${names[$i]}.log" &
        pids+=("$!")
    done
    AGTP_GATEWAY_SOCKET="$work/agtpd.sock" AGTP_CONNECTIONS=16 "$bin/booking-rust" 2>"$work/runtime-this.log" &
    pids+=("$!")
    for at in "$port" $((port + 1)) $((port + 2)); do
        for _ in $(seq 100); do
            "$bin/agtp" "agtp://$agent@127.0.0.1:$at" "${gateway_call[@]}" >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    echo
    echo "this build (tracing off) against $compare/agtpd, and against itself with tracing on:"
    echo
    echo '| path    | conn | this, req/s | other, req/s | other/this | traced, req/s | traced/this |'
    echo '|---------|------|-------------|--------------|------------|---------------|-------------|'
    local c path this other traced round at
    for c in $conns; do
        for path in in-proc gateway; do
            local call=("${baseline_call[@]}")
            [ "$path" = gateway ] && call=("${gateway_call[@]}")
            # Three rounds in alternating order, so that drift on a shared machine falls
            # on every build alike; each figure is the mean of its three.
            local -A sum=([0]=0 [1]=0 [2]=0)
            for round in 0 1 2; do
                local order=(0 1 2)
                [ "$round" = 1 ] && order=(2 1 0)
                for at in "${order[@]}"; do
                    sum[$at]=$(python3 -c "print(${sum[$at]} + $(bench_at $((port + at)) "$c" "${call[@]}" | field 'd["rps"]'))")
                done
            done
            this=$(python3 -c "print(${sum[0]}/3)") other=$(python3 -c "print(${sum[1]}/3)")
            traced=$(python3 -c "print(${sum[2]}/3)")
            printf '| %-7s | %4s | %11.0f | %12.0f | %10.2f | %13.0f | %11.2f |\n' "$path" "$c" \
                "$this" "$other" "$(python3 -c "print($other/$this)")" \
                "$traced" "$(python3 -c "print($traced/$this)")"
        done
    done
}

if [ -n "$compare" ]; then
    compare_builds
fi
