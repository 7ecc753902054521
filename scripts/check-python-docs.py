#!/usr/bin/env python3
"""Fails naming each public item of the installed `midge` package without a docstring.

Public means: every name in `midge.__all__`, and the public members (methods,
properties, attributes; names not starting with `_`) that each of those
classes defines itself. It walks pdoc's own model of the package, so it sees
what the API reference built by scripts/build-api-docs.sh shows, including
docstrings of type aliases and attributes taken from the source.
"""

import sys

import pdoc.doc

import midge


def main() -> int:
    module = pdoc.doc.Module(midge)
    missing: list[str] = []
    checked = 0
    for name in midge.__all__:
        item = module.get(name)
        if item is None:
            missing.append(f"midge.{name} (in __all__ but not found)")
            continue
        checked += 1
        if not item.docstring.strip():
            missing.append(f"midge.{name}")
        if isinstance(item, pdoc.doc.Class):
            for member in item.own_members:
                if member.name.startswith("_"):
                    continue
                checked += 1
                if not member.docstring.strip():
                    missing.append(f"midge.{name}.{member.name}")
    if missing:
        print(f"{len(missing)} public Python item(s) without a docstring:")
        for entry in missing:
            print(f"  {entry}")
        return 1
    print(f"python: {checked} public items, all documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
