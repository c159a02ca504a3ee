#!/usr/bin/env python3
"""Lists the import cycles between the modules of each workspace crate; exits 1 if any.

Module A uses module B when A's code names an item that B defines: through a `use`
declaration, or a path written in an expression or a type (`crate::modules::check(..)`,
`super::Pool`, `pool::Pool` for a child). Re-exports (`pub use`) are followed to the
module that defines the item and are not uses themselves; `mod` declarations are not uses.
A child that uses an item its parent defines while the parent uses the child closes a
cycle: no module imports its importer.

cargo-cycles (crates.io) follows `use` declarations only, so it misses a cycle closed by a
path written inline (the configuration hub this workspace once had was one); this script
reads both. It relies on the workspace's style: no glob re-exports across modules, no
macro that builds paths.

Usage: module_cycles.py [CRATE_DIR...]   (default: every crate target of the workspace)
"""

import json
import re
import subprocess
import sys
from pathlib import Path

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r#*"(?:.|\n)*?"#*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'')
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_0-9]+)\s*;')
USE = re.compile(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);")
INLINE = re.compile(r"(?<![A-Za-z0-9_:])([a-z_][a-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def strip(text):
    text = COMMENT.sub(" ", text)
    return STRING.sub('""', text)


def module_tree(root_file):
    """{module path tuple: file} for a crate whose root is `root_file`."""
    modules = {(): root_file}
    pending = [()]
    while pending:
        path = pending.pop()
        file = modules[path]
        text = strip(file.read_text())
        if file.name in ("lib.rs", "main.rs", "mod.rs"):
            base = file.parent
        else:
            base = file.parent / file.stem
        explicit = {name: base / target for target, name in PATH_ATTR.findall(text)}
        for name in MOD_DECL.findall(text):
            candidates = [explicit[name]] if name in explicit else [
                base / f"{name}.rs", base / name / "mod.rs"]
            for candidate in candidates:
                if candidate.exists():
                    modules[path + (name,)] = candidate
                    pending.append(path + (name,))
                    break
    return modules


def expand_use(tree):
    """The paths a `use` tree names, brace groups expanded, renames and globs dropped."""
    tree = re.sub(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, rest):
        if rest.startswith("{") and rest.endswith("}"):
            depth, part, parts = 0, "", []
            for ch in rest[1:-1]:
                if ch == "," and depth == 0:
                    parts.append(part)
                    part = ""
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                part += ch
            parts.append(part)
            for p in filter(None, parts):
                walk(prefix, p)
            return
        head, sep, tail = rest.partition("::{")
        if sep:
            walk(prefix + head.split("::"), "{" + tail)
            return
        out.append([s for s in prefix + rest.split("::") if s and s != "*"])

    walk([], tree)
    return out


def resolve(current, segments, modules, aliases, depth=0):
    """The module that defines what a path names (following re-exports), or None for a
    path that leaves the crate."""
    if not segments or depth > 16:
        return None
    head, rest = segments[0], segments[1:]
    if head == "crate":
        base = ()
    elif head == "super":
        base = current[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif head == "self":
        base = current
    elif current + (head,) in modules:
        # A relative path into a child module (`pool::Pool`, `use pool::Pool`).
        base = current + (head,)
    else:
        return None
    target = base
    for i, segment in enumerate(rest):
        if target + (segment,) in modules:
            target = target + (segment,)
            continue
        # An item: a re-export sends the path on to where the item is defined.
        alias = aliases.get(target, {}).get(segment)
        if alias is not None:
            return resolve(target, alias + rest[i + 1:], modules, aliases, depth + 1)
        break
    return target


def aliases_of(modules):
    """{module: {name: path}} for every `pub use` (a re-export, not a use of its own)."""
    table = {}
    for module, file in modules.items():
        for visibility, tree in USE.findall(strip(file.read_text())):
            if not visibility:
                continue
            for segments in expand_use(tree):
                if segments:
                    table.setdefault(module, {})[segments[-1]] = segments
    return table


def uses(current, file, modules, aliases):
    text = strip(file.read_text())
    found = set()
    for visibility, tree in USE.findall(text):
        if visibility:
            continue
        for segments in expand_use(tree):
            target = resolve(current, segments, modules, aliases)
            if target is not None:
                found.add(target)
    for path in INLINE.findall(USE.sub(" ", text)):
        target = resolve(current, path.split("::"), modules, aliases)
        if target is not None:
            found.add(target)
    found.discard(current)
    return found


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def crate_roots(dirs):
    if dirs:
        for d in dirs:
            for root in ("src/lib.rs", "src/main.rs"):
                if (Path(d) / root).exists():
                    yield Path(d).name, Path(d) / root
        return
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"]))
    for package in meta["packages"]:
        for target in package["targets"]:
            if set(target["kind"]) & {"lib", "bin"}:
                yield f'{package["name"]} ({target["name"]})', Path(target["src_path"])


def main():
    failed = False
    seen = set()
    for name, root in crate_roots(sys.argv[1:]):
        if root in seen:
            continue
        seen.add(root)
        modules = module_tree(root)
        aliases = aliases_of(modules)
        graph = {m: uses(m, f, modules, aliases) for m, f in modules.items()}
        found = cycles(graph)
        for component in found:
            failed = True
            names = ["::".join(m) or "(root)" for m in component]
            print(f"{name}: import cycle among {len(names)} modules: {', '.join(names)}")
            for m in component:
                inside = sorted("::".join(t) or "(root)" for t in graph[m] if t in component)
                print(f"    {'::'.join(m) or '(root)'} uses {', '.join(inside)}")
    if not failed:
        print(f"no import cycle between the modules of {len(seen)} crate targets")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
