#!/usr/bin/env python3
"""Runs what a README tells a newcomer to run, word for word, taken from the README itself.

A README marks the fenced code blocks meant to be run with a second word in the info string
(Markdown renderers show only the first):

  ```sh test             the test command; `readme.py block test README.md` prints it
  ```sh setup            run in order from the repository root
  ```<lang> file=PATH    the block's text is the file PATH (relative to the repository root)
  ```sh daemon           the daemon, which a user runs in the foreground; run here in the
                         background, and stopped with SIGTERM at the end (it must exit 0)
  ```sh call             one client call, retried until it exits 0; it must answer 200

`readme.py quickstart README.md` writes the files, then runs the setup, daemon and call blocks
in one bash process, so what setup changes (an activated virtualenv) carries over. It fails
when a call never answers 200 within --timeout, or the daemon does not stop cleanly.
"""

import argparse
import re
import subprocess
import sys
import textwrap
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`\n]*)$")


def blocks(text):
    """(info words, body) of every fenced block, in order."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        start = FENCE.match(lines[i])
        i += 1
        if not start:
            continue
        body = []
        while i < len(lines) and not lines[i].strip().startswith(start["fence"]):
            body.append(lines[i][len(start["indent"]):])
            i += 1
        i += 1
        found.append((start["info"].split(), "\n".join(body) + "\n"))
    return found


def tagged(readme, tag):
    return [body for words, body in blocks(readme) if tag in words[1:]]


def files(readme):
    for words, body in blocks(readme):
        for word in words[1:]:
            if word.startswith("file="):
                yield word[len("file="):], body


SCRIPT = """\
set -euo pipefail
{setup}
daemon_pid=
stop() {{
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || return 0
    code=0
    wait "$daemon_pid" || code=$?
    daemon_pid=
    echo "readme: the daemon exited with $code"
    return "$code"
}}
trap 'stop || true' EXIT
{daemons}
for call in {calls}; do
    deadline=$((SECONDS + {timeout}))
    until out=$(bash -c "$call" 2>&1) && grep -q '\\b200\\b' <<<"$out"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf 'readme: no 200 within {timeout} s from:\\n%s\\nlast output:\\n%s\\n' "$call" "$out"
            exit 1
        fi
        if [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
            printf 'readme: the daemon exited before answering:\\n%s\\n' "$call"
            exit 1
        fi
        sleep 1
    done
    printf 'readme: %s\\n%s\\n' "$call" "$out"
done
stop
"""


def quickstart(readme_path, timeout):
    readme = Path(readme_path).read_text()
    for path, body in files(readme):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
        print(f"readme: wrote {path}")
    daemons = tagged(readme, "daemon")
    calls = tagged(readme, "call")
    if not calls:
        sys.exit(f"readme: {readme_path} has no `call` block")
    if len(daemons) > 1:
        sys.exit(f"readme: {readme_path} has more than one `daemon` block")
    daemon = ""
    if daemons:
        command = daemons[0].strip()
        if "\n" in command:
            sys.exit(f"readme: the `daemon` block of {readme_path} must be one command")
        # `exec`, so the pid is the daemon's (`cargo run` execs the binary in turn) and
        # a trailing `# comment` stays a comment.
        daemon = "bash -c {} &\ndaemon_pid=$!".format(shell_quote("exec " + command))
    script = SCRIPT.format(
        setup="\n".join(tagged(readme, "setup")),
        daemons=daemon,
        calls=" ".join(shell_quote(c.strip()) for c in calls),
        timeout=timeout,
    )
    print(textwrap.indent(script, "readme| "), flush=True)
    sys.exit(subprocess.run(["bash", "-c", script]).returncode)


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    block = sub.add_parser("block", help="print the blocks tagged TAG")
    block.add_argument("tag")
    block.add_argument("readme")
    run = sub.add_parser("quickstart", help="run the README's quickstart")
    run.add_argument("readme")
    run.add_argument("--timeout", type=int, default=900, help="seconds for each call")
    args = parser.parse_args()
    if args.command == "block":
        found = tagged(Path(args.readme).read_text(), args.tag)
        if not found:
            sys.exit(f"readme: {args.readme} has no `{args.tag}` block")
        sys.stdout.write("".join(found))
    else:
        quickstart(args.readme, args.timeout)


if __name__ == "__main__":
    main()
