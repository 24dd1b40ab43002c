#!/usr/bin/env python3
"""Fails when building the library alone would compile shared crates with
other features than the workspace's test build (and so compile them, and
everything above them, a second time). Prints what to add to
host/unify/Cargo.toml.

    scripts/check-features.py

It compares `cargo tree` of the test build (every member, dev-dependencies
included) with that of each build CI makes of part of the workspace: the
Python wheel (glassbox-python), `cargo build -p glassbox`, and `cargo bench
-p glassbox`. Takes a few seconds; builds nothing.
"""

import re
import subprocess
import sys

TARGET = "x86_64-unknown-linux-gnu"


def tree(*args: str) -> dict[str, set[str]]:
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--target", TARGET, "--prefix", "none",
         "-f", "{p} {f}", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    crates: dict[str, set[str]] = {}
    for line in out.splitlines():
        line = re.sub(r"\s*\(\*\)$", "", line.strip())
        # Drop "(/path)" and "(proc-macro)" annotations.
        line = re.sub(r"\s*\((/|proc-macro)[^)]*\)", "", line)
        if not line:
            continue
        parts = line.split(" ")
        key = f"{parts[0]} {parts[1]}"
        features = set(parts[2].split(",")) if len(parts) > 2 and parts[2] else set()
        crates.setdefault(key, set()).update(features)
    return crates


def main() -> int:
    whole = tree("--workspace", "-e", "normal,build,dev")
    parts = {
        "the Python wheel (maturin: glassbox-python)": tree("-p", "glassbox-python", "-e", "normal,build"),
        "cargo build -p glassbox": tree("-p", "glassbox", "-e", "normal,build"),
        "cargo bench -p glassbox": tree("-p", "glassbox", "-e", "normal,build,dev"),
    }
    problems = 0
    for name, crates in parts.items():
        for crate, features in sorted(crates.items()):
            missing = whole.get(crate, features) - features
            if missing:
                problems += 1
                print(f"{name}: {crate} lacks features {', '.join(sorted(missing))} "
                      "that the test build enables: add them in host/unify/Cargo.toml")
    if problems:
        return 1
    print(f"every partial build uses the test build's features ({len(whole)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
