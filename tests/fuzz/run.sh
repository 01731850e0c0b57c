#!/usr/bin/env bash
# run.sh -- fuzzes every libFuzzer target of a -Dfuzz=true build for a while, each on a copy
# of its committed corpus (tests/fuzz/corpus_<name>/), so the repository is never written.
#
#   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
#   meson compile -C build-fuzz && tests/fuzz/run.sh build-fuzz 20
#
# Prints "fuzz <name>: ok" or "fuzz <name>: FAILED" per target (a failure also shows the end
# of libFuzzer's log and keeps the crashing input under $TMPDIR) and exits 1 if any failed.
set -u

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
failed=0

for corpus in "$here"/corpus_*/; do
    name=$(basename "$corpus")
    name=${name#corpus_}
    exe=$build/tests/fuzz/fuzz_$name
    if [ ! -x "$exe" ]; then
        echo "fuzz $name: FAILED"
        echo "  no $exe: build with -Dfuzz=true" >&2
        failed=1
        continue
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/hookgate-fuzz-$name.XXXXXX")
    cp -r "$corpus" "$work/corpus"
    # -timeout: an input running that long is a hang, reported like a crash.
    if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1; then
        echo "fuzz $name: ok"
        rm -rf "$work"
    else
        echo "fuzz $name: FAILED"
        tail -n 30 "$work/log" | sed 's/^/  /' >&2
        echo "  log and crashing input kept in $work" >&2
        failed=1
    fi
done
exit $failed
