#!/usr/bin/env bash
# Benchmarks of issue 2: the pickle VM against pickletools.genops on the same
# files. Needs Debian's /usr/bin/python3 (stdlib only). Usage: bench/run.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/out}
mkdir -p "$dir"
[ -f "$dir/payload.pkl" ] && [ -f "$dir/dense.pkl" ] || /usr/bin/python3 bench/make_pickles.py "$dir"
/usr/bin/python3 bench/genops_time.py "$dir/payload.pkl" "$dir/dense.pkl"
MODELGATE_BENCH_DIR=$(cd "$dir" && pwd) go test -run '^$' -bench 'File' -benchmem -count 3 ./internal/pickle
