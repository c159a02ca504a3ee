#!/usr/bin/env bash
# The Debian package end to end, on a Debian machine, as root, with or without systemd
# running: build it, install it with dpkg, check its files, user and conffile, check the
# installed config, run the installed daemon as the agtpd user and ask it through the
# installed agtp, then purge and check what is left. Any failed check fails the script.
# The machine is left as it was: the package purged, and the agtpd user and group removed
# again when this run created them.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

[ "$(id -u)" = 0 ] || fail "run as root: this installs and purges the agtpd package"
command -v cargo-deb >/dev/null || fail "cargo-deb is not installed"

user_existed=no
getent passwd agtpd >/dev/null && user_existed=yes
daemon_pid=
work=$(mktemp -d)
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
    fi
    if dpkg-query -W -f='${Status}' agtpd 2>/dev/null | grep -q installed; then
        dpkg --purge agtpd >/dev/null
    fi
    if [ "$user_existed" = no ] && getent passwd agtpd >/dev/null; then
        userdel agtpd
    fi
    if [ "$user_existed" = no ] && getent group agtpd >/dev/null; then
        groupdel agtpd
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if dpkg-query -W -f='${Status}' agtpd 2>/dev/null | grep -q installed; then
    step "deb: purging an agtpd package left by an earlier run"
    dpkg --purge agtpd
fi

step "deb: build (packaging/build-deb.sh)"
deb=$(packaging/build-deb.sh | tail -n 1)
check "built $deb" test -s "$deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

step "deb: install with dpkg"
dpkg -i "$deb"
check "dpkg reports agtpd installed" \
    sh -c "dpkg-query -W -f='\${Status}' agtpd | grep -qx 'install ok installed'"

step "deb: files"
dpkg -L agtpd >"$work/files"
for path in /usr/bin/agtpd /usr/bin/agtp /etc/agtpd/agtpd.toml \
    /etc/agtpd/agents/example.agent.json.disabled /etc/agtpd/endpoints/example.toml.disabled \
    /usr/lib/systemd/system/agtpd.service /usr/share/doc/agtpd/README.md \
    /usr/share/doc/agtpd/README.Debian /usr/share/doc/agtpd/copyright \
    /usr/share/man/man1/agtpd.1.gz /usr/share/man/man1/agtp.1.gz \
    /usr/share/man/man1/agtpd-keygen.1.gz /usr/share/man/man1/agtp-bench.1.gz; do
    check "dpkg -L lists $path and it exists" \
        sh -c "grep -qx '$path' '$work/files' && test -e '$path'"
done
check "the installed unit is packaging/systemd/agtpd.service" \
    cmp /usr/lib/systemd/system/agtpd.service packaging/systemd/agtpd.service
check "agtpd.1 documents --check-config" \
    sh -c "zcat /usr/share/man/man1/agtpd.1.gz | grep -q 'check\\\\-config'"
check "/usr/bin/agtpd --version answers" /usr/bin/agtpd --version
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify accepts the installed unit" \
        systemd-analyze verify /usr/lib/systemd/system/agtpd.service
    # 1.5 when written; a weakened sandbox fails here.
    check "systemd-analyze security rates its exposure 1.5 or lower" quiet \
        systemd-analyze security --offline=true --threshold=15 \
        /usr/lib/systemd/system/agtpd.service
else
    echo "skipped: systemd-analyze verify and security (systemd-analyze not installed)"
fi
if command -v deb-systemd-helper >/dev/null; then
    check "the unit is enabled for multi-user.target" \
        test -L /etc/systemd/system/multi-user.target.wants/agtpd.service
else
    echo "skipped: enablement (deb-systemd-helper not installed)"
fi

step "deb: the agtpd user and group"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd agtpd) || fail "no agtpd user"
check "agtpd is a system user (uid $uid)" test "$uid" -lt 1000
check "its primary group is agtpd" test "$(getent group "$gid" | cut -d: -f1)" = agtpd
check "its home is /var/lib/agtpd" test "$home" = /var/lib/agtpd
check "it has no login shell ($shell)" test "$shell" = /usr/sbin/nologin
check "/var/lib/agtpd is agtpd:agtpd 750" \
    test "$(stat -c '%U:%G %a' /var/lib/agtpd)" = "agtpd:agtpd 750"

step "deb: the conffile"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' agtpd)
echo "$conffiles"
check "/etc/agtpd/agtpd.toml is a conffile with the md5 of packaging/agtpd.toml" \
    grep -qx " /etc/agtpd/agtpd.toml $(md5sum <packaging/agtpd.toml | cut -d' ' -f1)" \
    <<<"$conffiles"
check "every shipped file under /etc/agtpd is a conffile" \
    test "$(grep -c '^/etc/agtpd/.*\.' "$work/files")" = "$(grep -c ' /etc/agtpd/' <<<"$conffiles")"

step "deb: agtpd --check-config /etc/agtpd/agtpd.toml"
check "root: configuration ok" /usr/bin/agtpd --config /etc/agtpd/agtpd.toml --check-config
check "the agtpd user (as ExecStartPre): configuration ok" \
    setpriv --reuid agtpd --regid agtpd --init-groups -- \
    /usr/bin/agtpd --config /etc/agtpd/agtpd.toml --check-config
mkdir -p "$work/agents" "$work/endpoints"
cp /etc/agtpd/agents/example.agent.json.disabled "$work/agents/example.agent.json"
cp /etc/agtpd/endpoints/example.toml.disabled "$work/endpoints/example.toml"
check "the shipped examples, enabled, are valid" \
    /usr/bin/agtpd --config /etc/agtpd/agtpd.toml --check-config \
    --agents-dir "$work/agents" --endpoints-dir "$work/endpoints"

step "deb: run the installed daemon as agtpd, ask it with the installed agtp"
code=0
unshare --net -- /usr/bin/agtpd health 2>/dev/null || code=$?
check "agtpd health exits 1 while no daemon answers (was $code)" test "$code" = 1
# What RuntimeDirectory=agtpd does under systemd.
install -d -o agtpd -g agtpd -m 0750 /run/agtpd
# The installed config as it is, in a network namespace of its own, so that its ports
# cannot clash with anything else on this machine; agtp joins that namespace.
unshare --net -- /bin/sh -c 'ip link set lo up && exec "$@"' sh \
    setpriv --reuid agtpd --regid agtpd --init-groups -- \
    /usr/bin/agtpd --config /etc/agtpd/agtpd.toml >"$work/daemon.log" 2>&1 &
daemon_pid=$!
in_netns() { nsenter --target "$daemon_pid" --net -- "$@"; }
url=agtp://127.0.0.1:4480
# Readiness as a probe sees it: /readyz on the admin listener the conffile turns on.
wait_until 20 in_netns /usr/bin/agtpd health ||
    fail "agtpd health did not pass within 20 s: $(cat "$work/daemon.log")"
echo "ok: agtpd health (/readyz of [admin] listen in /etc/agtpd/agtpd.toml) passes"
check "the daemon runs as agtpd ($(proc_uids "$daemon_pid"))" \
    test "$(proc_uids "$daemon_pid")" = "$uid $uid $uid $uid"
in_netns /usr/bin/agtp -i "$url" >"$work/discover" ||
    fail "DISCOVER failed: $(cat "$work/discover")"
cat "$work/discover"
echo
check "DISCOVER answers 200 with Server-ID agtpd" \
    sh -c "grep -q '^AGTP/1.0 200 OK' '$work/discover' && grep -qi '^Server-ID: agtpd' '$work/discover'"
code=0
in_netns /usr/bin/agtp "$url" FETHC /x >/dev/null 2>&1 || code=$?
check "a misspelt verb gets 459 (agtp exit code 4, was $code)" test "$code" = 4
kill -HUP "$daemon_pid"
sleep 0.5
check "after SIGHUP (ExecReload) it still serves" quiet in_netns /usr/bin/agtp "$url"
stop_daemon "$daemon_pid"
daemon_pid=
check "SIGTERM stops it with exit code 0 (was $exit_code)" test "$exit_code" = 0
check "it logged 'agtpd ready'" grep -q "agtpd ready" "$work/daemon.log"
tail -n 5 "$work/daemon.log"

step "deb: purge"
dpkg --purge agtpd
for path in /usr/bin/agtpd /usr/bin/agtp /etc/agtpd /var/lib/agtpd /run/agtpd \
    /usr/lib/systemd/system/agtpd.service /usr/share/doc/agtpd /usr/share/man/man1/agtpd.1.gz \
    /etc/systemd/system/multi-user.target.wants/agtpd.service; do
    check "$path is gone" test ! -e "$path" -a ! -L "$path"
done
check "dpkg no longer knows agtpd" \
    sh -c "! dpkg-query -W -f='\${Status}' agtpd 2>/dev/null | grep -q installed"
check "the agtpd user stays (system users are not removed on purge)" getent passwd agtpd
check "the agtpd group stays" getent group agtpd

echo
echo "deb: all checks passed"
