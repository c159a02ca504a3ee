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
#   bench/run.sh [--php] [--duration 5s] [--connections "1 16 64"]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5s warmup=1s conns="1 16 64" php=false
while [ $# -gt 0 ]; do
    case "$1" in
        --php) php=true ;;
        --duration) duration=$2; shift ;;
        --connections) conns=$2; shift ;;
        *) echo "usage: bench/run.sh [--php] [--duration 5s] [--connections \"1 16 64\"]" >&2; exit 64 ;;
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
uri="agtp://d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c@127.0.0.1:$port"
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

start_daemon() {
    # The sample's config without its [[runtime]] section: each row's runtime is the only
    # one serving, so the requests and the CPU counted are its own.
    sed '/^\[\[runtime\]\]/,$d' samples/booking/agtpd.toml > "$work/agtpd.toml"
    AGTPD_LOG_LEVEL=warn "$bin/agtpd" --config "$work/agtpd.toml" \
        --listen "127.0.0.1:$port" --gateway-socket "$work/gateway.sock" 2>"$work/agtpd.log" &
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
    "$bin/agtp" bench -c "$c" -d "$duration" --warmup "$warmup" --json "$uri" "$@"
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
        AGTP_GATEWAY_SOCKET="$work/gateway.sock" AGTP_CONNECTIONS=16 "$@" 2>"$work/runtime-$i.log" &
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
