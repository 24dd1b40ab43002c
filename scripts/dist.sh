#!/usr/bin/env bash
# Builds a `glassbox` to ship, stripped, with its debug info split out:
#
#   scripts/dist.sh                                   # the full build, this machine
#   scripts/dist.sh --runtime                         # the runtime-only build
#   scripts/dist.sh --runtime --target aarch64-unknown-linux-gnu
#   scripts/dist.sh --runtime --max-mb 10             # fail when larger
#
# Writes target/ship/TRIPLE/glassbox (or glassbox-runtime) and, beside it,
# the .debug file its GNU debuglink names (gdb and perf find it there, or
# in /usr/lib/debug). The `dist` profile (Cargo.toml) is release with
# whole-program LTO. aarch64 links with Debian's gcc-aarch64-linux-gnu
# (.cargo/config.toml; installed here with apt-get when missing), whose
# binutils strip it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
flavor=full target=$host max_mb=
while [[ $# -gt 0 ]]; do
    case $1 in
        --runtime) flavor=runtime ;;
        --target) target=$2; shift ;;
        --max-mb) max_mb=$2; shift ;;
        *) echo "usage: scripts/dist.sh [--runtime] [--target TRIPLE] [--max-mb N]" >&2; exit 2 ;;
    esac
    shift
done

features=()
name=glassbox
if [[ $flavor == runtime ]]; then
    features=(--no-default-features)
    name=glassbox-runtime
fi
rustup target add "$target" >/dev/null
objcopy=objcopy
case $target in
    "$host") ;;
    aarch64-unknown-linux-gnu)
        if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
            { apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    gcc-aarch64-linux-gnu libc6-dev-arm64-cross; } >&2
        fi
        objcopy=aarch64-linux-gnu-objcopy
        ;;
    *) echo "scripts/dist.sh: no cross linker set up for $target" >&2; exit 2 ;;
esac

# For this machine without --target, so that build scripts and proc-macros
# share the build.
built=target/dist/glassbox
target_args=()
if [[ $target != "$host" ]]; then
    target_args=(--target "$target")
    built=target/$target/dist/glassbox
fi
cargo build --locked --profile dist -p glassbox --bin glassbox "${target_args[@]}" "${features[@]}"
out=target/ship/$target
mkdir -p "$out"
cp "$built" "$out/$name"
(
    cd "$out"
    "$objcopy" --only-keep-debug "$name" "$name.debug"
    "$objcopy" --strip-all --add-gnu-debuglink="$name.debug" "$name"
)
bytes=$(stat -c %s "$out/$name")
mb=$(awk "BEGIN { printf \"%.1f\", $bytes / 1000000 }")
echo "$out/$name: $mb MB stripped ($bytes bytes; debug info in $name.debug)"
if [[ -n $max_mb ]] && (( bytes > max_mb * 1000000 )); then
    echo "scripts/dist.sh: $out/$name is $mb MB, over the $max_mb MB budget" >&2
    exit 1
fi
