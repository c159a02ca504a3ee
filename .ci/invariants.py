#!/usr/bin/env python3
"""Checks the architecture's invariants a machine can check (ARCHITECTURE.md lists them):
which workspace crates each crate may depend on (from `cargo metadata`), that exactly one
file of agtpd names the module crates, and that the daemon's launcher stays a launcher.
Exits 1 naming each broken rule."""

import json
import re
import subprocess
import sys
from pathlib import Path

# A crate's normal (non-dev, non-build) dependencies on workspace crates, at most these.
ALLOWED = {
    "agtp-core": set(),
    "runtime-protocol": set(),
    "agtp-site": {"agtp-core", "runtime-protocol"},
    "runtime-conformance": {"agtp-site", "runtime-protocol"},
    "agtp": {"agtp-core"},
    "mod-audit": {"agtp-core"},
    "mod-cache": {"agtp-core"},
    "mod-proxy": {"agtp-core"},
    "mod-rust": {"runtime-protocol"},
    "agtpd": {"agtp-core", "agtp-site", "runtime-protocol", "runtime-conformance",
              "mod-audit", "mod-cache", "mod-proxy"},
    "agtpd-harness": {"agtp-core", "agtpd"},
    "booking-rust": {"mod-rust"},
}
MODULE_CRATES = ("mod_audit", "mod_cache", "mod_proxy")
MAX_LAUNCHER_LINES = 60


def main():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"]))
    names = {p["name"] for p in meta["packages"]}
    failures = []
    for package in meta["packages"]:
        name = package["name"]
        if name not in ALLOWED:
            failures.append(f"{name}: a workspace crate ARCHITECTURE.md does not place")
            continue
        for dep in package["dependencies"]:
            if dep["name"] not in names or dep["kind"] == "dev":
                continue
            if dep["name"] not in ALLOWED[name]:
                failures.append(f"{name} depends on {dep['name']}")
            if dep["name"] == "agtpd-harness":
                failures.append(f"{name}: agtpd-harness is a dev-dependency only")
    root = Path(meta["workspace_root"])
    naming = sorted(
        str(f.relative_to(root)) for f in (root / "agtpd/src").rglob("*.rs")
        if re.search(r"\b(" + "|".join(MODULE_CRATES) + r")::", f.read_text()))
    if naming != ["agtpd/src/modules.rs"]:
        failures.append(f"files of agtpd naming module crates: {naming} (only modules.rs may)")
    launcher = (root / "agtpd/src/main.rs").read_text().count("\n")
    if launcher > MAX_LAUNCHER_LINES:
        failures.append(f"agtpd/src/main.rs has {launcher} lines; a launcher has at most "
                        f"{MAX_LAUNCHER_LINES}")
    for failure in failures:
        print(f"invariant broken: {failure}")
    if not failures:
        print(f"invariants hold for {len(names)} workspace crates")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
