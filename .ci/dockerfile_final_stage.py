#!/usr/bin/env python3
"""Reads a Dockerfile and prints its final stage as shell assignments for
.ci/docker-rootfs.sh, so that the check follows the Dockerfile instead of restating it.

    eval "$(python3 .ci/dockerfile_final_stage.py packaging/docker/Dockerfile)"

Sets BASE, USER_SPEC, ENV (array of KEY=VALUE), ENTRYPOINT (array), CMD (array),
HEALTHCHECK (array), VOLUMES
(array), EXPOSE (array), COPIES (array of "FROM|CHOWN|SRC|DEST") and BUILD_OUT: the OUT
directory that the stage COPY --from names passes to packaging/docker/rootfs.sh, which
builds that stage's files. Exits 1 naming any instruction of the final stage it does not
understand: a new instruction needs a new check.
"""

import json
import re
import shlex
import sys


def instructions(text):
    """(KEYWORD, rest) per instruction, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    for line in logical:
        keyword, _, rest = line.partition(" ")
        yield keyword.upper(), rest.strip()


def exec_form(rest, what):
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        sys.exit(f"{what} is not in exec form (a JSON array): {rest}")
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        sys.exit(f"{what} is not a JSON array of strings: {rest}")
    return value


def final_stage(path):
    """The final stage's settings (BASE, USER_SPEC, BUILD_OUT) and lists (ENV, ENTRYPOINT,
    CMD, HEALTHCHECK, VOLUMES, EXPOSE, COPIES), as the module docstring names them."""
    stages, names = [], {}
    for keyword, rest in instructions(open(path, encoding="utf-8").read()):
        if keyword == "FROM":
            words = rest.split()
            stages.append({"base": words[0], "lines": []})
            if len(words) == 3 and words[1].upper() == "AS":
                names[words[2]] = stages[-1]
        elif not stages:
            sys.exit(f"{keyword} before the first FROM")
        else:
            stages[-1]["lines"].append((keyword, rest))

    final = stages[-1]
    out = {"BASE": final["base"], "USER_SPEC": "0:0"}
    arrays = {"ENV": [], "ENTRYPOINT": [], "CMD": [], "HEALTHCHECK": [], "VOLUMES": [], "EXPOSE": [], "COPIES": []}
    sources = []
    for keyword, rest in final["lines"]:
        if keyword == "USER":
            out["USER_SPEC"] = rest
        elif keyword in ("ENTRYPOINT", "CMD"):
            arrays[keyword] = exec_form(rest, keyword)
        elif keyword == "HEALTHCHECK":
            _, sep, command = rest.partition("CMD ")
            if not sep:
                sys.exit(f"HEALTHCHECK without CMD: {rest}")
            arrays["HEALTHCHECK"] = exec_form(command, "HEALTHCHECK CMD")
        elif keyword == "VOLUME":
            arrays["VOLUMES"] = exec_form(rest, "VOLUME")
        elif keyword == "ENV":
            pairs = shlex.split(rest)
            if not all("=" in pair for pair in pairs):
                sys.exit(f"ENV needs the KEY=VALUE form: {rest}")
            arrays["ENV"] += pairs
        elif keyword == "EXPOSE":
            arrays["EXPOSE"] += rest.split()
        elif keyword == "COPY":
            words = rest.split()
            flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
            paths = [w for w in words if not w.startswith("--")]
            if set(flags) - {"from", "chown"} or len(paths) != 2:
                sys.exit(f"COPY form not understood: {rest}")
            source = flags.get("from", "")
            if source:
                if source not in names:
                    sys.exit(f"COPY --from={source}: no stage of that name")
                sources += [source] if source not in sources else []
            arrays["COPIES"].append("|".join([source, flags.get("chown", ""), *paths]))
        else:
            sys.exit(f"final stage: {keyword} is not checked by .ci/docker-rootfs.sh")
    if len(sources) != 1:
        sys.exit(f"the final stage copies from {len(sources)} stages; one is checked")
    runs = " && ".join(r for k, r in names[sources[0]]["lines"] if k == "RUN")
    found = re.search(r"packaging/docker/rootfs\.sh\s+target/release\s+(\S+)", runs)
    if not found:
        sys.exit(f"stage {sources[0]} does not run packaging/docker/rootfs.sh target/release OUT")
    out["BUILD_OUT"] = found.group(1)
    return out, arrays


def main(path):
    out, arrays = final_stage(path)
    for name, value in out.items():
        print(f"{name}={shlex.quote(value)}")
    for name, values in arrays.items():
        print(f"{name}=({' '.join(shlex.quote(v) for v in values)})")


if __name__ == "__main__":
    main(sys.argv[1])
