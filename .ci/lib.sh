# Shared by the packaging checks (.ci/deb.sh, .ci/docker-rootfs.sh); sourced, not run.

# A step header.
step() { printf '\n== %s\n' "$*"; }

# Stops the script with a message.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# check DESCRIPTION COMMAND...: runs the command; "ok" or the script fails.
check() {
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

# quiet COMMAND...: the command with its standard output dropped.
quiet() { "$@" >/dev/null; }

# wait_until SECONDS COMMAND...: retries the command every 0.1 s until it succeeds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# proc_uids PID: the real, effective, saved and filesystem uids of a process.
proc_uids() { awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$1/status"; }

# stop_daemon PID [CHILD]: SIGTERM to PID, then waits for CHILD (this shell's child that
# ends with it; PID itself by default) and sets exit_code to its exit code.
stop_daemon() {
    exit_code=0
    kill -TERM "$1"
    wait "${2:-$1}" || exit_code=$?
}
