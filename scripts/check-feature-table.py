#!/usr/bin/env python3
"""Keeps docs/features.md true: each column's option names must be exactly
the options that binding's code accepts.

Reads the option lists from the code, without building anything:
  Python  bindings-python/python/midge/_options.py (the names `Client` accepts)
  npm     ConnectOptions in bindings-wasm/npm/index.d.ts, and the names
          index.js accepts (OPTIONS and JS_OPTIONS), which must agree
  Kotlin  the fields of MqttOptions and TlsConfig in bindings-uniffi/src/types.rs,
          in the camelCase UniFFI gives Kotlin and Swift
A dotted name (`tls.caPem`, `properties.receiveMaximum`) must be a field of
that nested option. Backticked text that is not a plain or dotted name
(`mqtt://`, `auth()`) is not an option and is not checked.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def python_options() -> Dict[str, Set[str]]:
    tree = ast.parse((ROOT / "bindings-python/python/midge/_options.py").read_text())
    values: Dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and node.value is not None:
                values[target.id] = node.value
    names: Set[str] = set()
    for dict_name in ("_PASS", "_ALIASES"):
        names |= {k.value for k in values[dict_name].keys if isinstance(k, ast.Constant)}  # type: ignore[attr-defined]
    # OPTION_NAMES = sorted(list(_PASS) + list(_ALIASES) + [ ...literal names... ])
    for node in ast.walk(values["OPTION_NAMES"]):
        if isinstance(node, ast.List):
            names |= {e.value for e in node.elts if isinstance(e, ast.Constant)}
    return {name: set() for name in names}


def _interface_body(source: str, name: str) -> str:
    match = re.search(r"export interface " + name + r"\b[^{]*\{\n(.*?)\n\}", source, re.S)
    if not match:
        sys.exit(f"index.d.ts: interface {name} not found")
    return match.group(1)


def _strip_comments(body: str) -> str:
    return re.sub(r"/\*.*?\*/", "", body, flags=re.S)


def npm_options() -> Dict[str, Set[str]]:
    dts = (ROOT / "bindings-wasm/npm/index.d.ts").read_text()
    body = _strip_comments(_interface_body(dts, "ConnectOptions"))
    options: Dict[str, Set[str]] = {}
    current = None
    for line in body.split("\n"):
        top = re.match(r"^  ([A-Za-z_]\w*)\??:\s*(.*)$", line)
        nested = re.match(r"^    ([A-Za-z_]\w*)\??:", line)
        if top:
            current = top.group(1)
            options[current] = set()
        elif nested and current:
            options[current].add(nested.group(1))
    reconnect = _strip_comments(_interface_body(dts, "ReconnectPolicy"))
    options["reconnect"] = set(re.findall(r"^  ([A-Za-z_]\w*)\??:", reconnect, re.M))

    js = (ROOT / "bindings-wasm/npm/index.js").read_text()
    encoded = re.search(r"^const OPTIONS = \{(.*?)\};", js, re.S | re.M)
    read_by_js = re.search(r"^const JS_OPTIONS = \[(.*?)\];", js, re.S | re.M)
    if not encoded or not read_by_js:
        sys.exit("index.js: OPTIONS or JS_OPTIONS not found")
    accepted = set(re.findall(r"(\w+):\s*\[0x", encoded.group(1)))
    accepted |= set(re.findall(r"'(\w+)'", read_by_js.group(1)))
    if accepted != set(options):
        sys.exit(
            "npm: index.js accepts and index.d.ts declares different options:\n"
            f"  only in index.js: {sorted(accepted - set(options))}\n"
            f"  only in index.d.ts: {sorted(set(options) - accepted)}"
        )
    return options


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _struct_fields(source: str, name: str) -> List[str]:
    match = re.search(r"pub struct " + name + r" \{(.*?)\n\}", source, re.S)
    if not match:
        sys.exit(f"types.rs: struct {name} not found")
    return re.findall(r"^\s*pub ([a-z_][a-z0-9_]*):", match.group(1), re.M)


def kotlin_options() -> Dict[str, Set[str]]:
    source = (ROOT / "bindings-uniffi/src/types.rs").read_text()
    options = {_camel(f): set() for f in _struct_fields(source, "MqttOptions")}
    options["tls"] = {_camel(f) for f in _struct_fields(source, "TlsConfig")}
    return options


def table_columns() -> List[Set[str]]:
    text = (ROOT / "docs/features.md").read_text()
    rows = [line for line in text.split("\n") if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    if header[1:] != ["Python", "npm (browser and Node)", "Kotlin / Swift"]:
        sys.exit(f"docs/features.md: unexpected header {header}")
    columns: List[Set[str]] = [set(), set(), set()]
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 4:
            sys.exit(f"docs/features.md: a row without 4 cells: {row}")
        for i, cell in enumerate(cells[1:]):
            columns[i] |= {n for n in re.findall(r"`([^`]+)`", cell) if NAME.match(n)}
    return columns


def check(binding: str, named: Set[str], options: Dict[str, Set[str]]) -> List[str]:
    problems = []
    tops = {n.split(".")[0] for n in named}
    for missing in sorted(set(options) - tops):
        problems.append(f"{binding}: option `{missing}` is not in the table")
    for name in sorted(named):
        top, _, field = name.partition(".")
        if top not in options:
            problems.append(f"{binding}: the table names `{name}`, which is not an option")
        elif field and field not in options[top]:
            problems.append(f"{binding}: the table names `{name}`, but `{top}` has no field `{field}`")
    return problems


def main() -> None:
    python_named, npm_named, kotlin_named = table_columns()
    problems = (
        check("Python", python_named, python_options())
        + check("npm", npm_named, npm_options())
        + check("Kotlin/Swift", kotlin_named, kotlin_options())
    )
    if problems:
        print("docs/features.md does not match the code:", *problems, sep="\n  ")
        sys.exit(1)
    counts = ", ".join(f"{b} {len(n)}" for b, n in
                       (("Python", python_named), ("npm", npm_named), ("Kotlin/Swift", kotlin_named)))
    print(f"docs/features.md matches the options in the code ({counts} names)")


if __name__ == "__main__":
    main()
