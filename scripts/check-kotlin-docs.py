#!/usr/bin/env python3
"""Fails on each undocumented declaration of the Kotlin API that Dokka reports.

Reads the log of `mvn dokka:dokka` (reportUndocumented on) from stdin or a
file, and fails naming each "Undocumented: ..." line except UniFFI's generated
boilerplate, which has no source of ours to document:

- companion objects (`X.Companion`), which UniFFI adds to every type;
- `values`, `valueOf` and `entries` of enums, which Kotlin synthesizes;
- `destroy` and `close` of object classes (UniFFI's Disposable/AutoCloseable);
- `message` of each `MqttException` variant (the Throwable override);
- the FFI runtime types `Disposable`, `InternalException`, `*.ErrorHandler`.

Everything else (classes, records and their fields, enums, error variants and
their fields, functions, methods, properties, and the hand-written Flows.kt)
must have a doc comment: the generated ones come from the Rust doc comments
in bindings-uniffi/src/.
"""

import re
import sys

EXCLUDED = [
    re.compile(r"\.Companion/"),
    re.compile(r"/(values|valueOf|entries)/#"),
    re.compile(r"/(destroy|close)/#/"),
    re.compile(r"/MqttException\.\w+/message/#/"),
    re.compile(r"io\.midge\.mqtt/(Disposable|InternalException)[/.]"),
    re.compile(r"\.ErrorHandler/"),
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main() -> int:
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    reported = []
    for line in text.splitlines():
        line = ANSI.sub("", line)
        match = re.search(r"Undocumented: (\S+)", line)
        if match:
            reported.append(match.group(1))
    missing = [item for item in reported if not any(p.search(item) for p in EXCLUDED)]
    if missing:
        print(f"{len(missing)} public Kotlin declaration(s) without a doc comment:")
        for item in missing:
            print(f"  {item}")
        return 1
    print(f"kotlin: every public declaration documented ({len(reported)} UniFFI boilerplate declarations excluded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
