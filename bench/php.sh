#!/usr/bin/env bash
# nginx + php-fpm side of the benchmark: pm static with 8 children, FastCGI over a Unix
# socket, a hello-world JSON, loaded with wrk over keep-alive connections. Called by
# bench/run.sh --php with the duration, the connection counts and agtpd's results file.
# Installs nginx, php-fpm and wrk from Debian's packages when they are missing.
set -euo pipefail
duration=$1 conns=$2 results=$3

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! ls /usr/sbin/php-fpm* >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx php-fpm wrk >/dev/null
fi
fpm=$(ls /usr/sbin/php-fpm* | head -n 1)

work=$(mktemp -d)
chmod 755 "$work"
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; [ -f "$work/fpm.pid" ] && kill "$(cat "$work/fpm.pid")" 2>/dev/null; sleep 0.2; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/index.php" <<'PHP'
<?php
header('Content-Type: application/json');
echo json_encode(['hello' => 'world']);
PHP
cat > "$work/fpm.conf" <<CONF
[global]
pid = $work/fpm.pid
error_log = $work/fpm.log
daemonize = yes
[bench]
user = www-data
group = www-data
listen = $work/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 8
CONF
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:44881;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work/index.php;
            fastcgi_pass unix:$work/fpm.sock;
            fastcgi_keep_conn on;
        }
    }
}
CONF
"$fpm" --fpm-config "$work/fpm.conf"
nginx -c "$work/nginx.conf"
sleep 0.5

echo
echo '| server | conn | req/s | agtpd rust / php | agtpd python / php | agtpd node / php |'
echo '|--------|------|-------|------------------|--------------------|------------------|'
for c in $conns; do
    threads=$(( c < 2 ? 1 : 2 ))
    rps=$(wrk -t "$threads" -c "$c" -d "$duration" http://127.0.0.1:44881/ | awk '/Requests\/sec/ {print $2}')
    rust=$(awk -v c="$c" '$1 == "rust" && $2 == c {print $3}' "$results")
    python=$(awk -v c="$c" '$1 == "python" && $2 == c {print $3}' "$results")
    node=$(awk -v c="$c" '$1 == "node" && $2 == c {print $3}' "$results")
    printf '| nginx+php-fpm | %4s | %7.0f | %5.2f | %5.2f | %5.2f |\n' "$c" "$rps" \
        "$(python3 -c "print(${rust:-0}/$rps)")" "$(python3 -c "print(${python:-0}/$rps)")" \
        "$(python3 -c "print(${node:-0}/$rps)")"
done
