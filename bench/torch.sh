#!/usr/bin/env bash
# Issue 3 benchmark: a PyTorch checkpoint's scan time must not grow with its
# tensor data. Writes a real torchvision resnet18 state dict (Debian's
# python3-torchvision) and a 2 GiB torch.save-layout checkpoint (Go writer),
# then compares `cat FILE > /dev/null` with `modelgate scan`, warm cache,
# best of 3, with peak RSS. Usage: bench/torch.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/out}
mkdir -p "$dir"
[ -f "$dir/resnet18.pt" ] || /usr/bin/python3 -c "import torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), '$dir/resnet18.pt')"
[ -f "$dir/big2g.pt" ] || go run ./bench/gentorch -size 2048 -tensors 64 -o "$dir/big2g.pt"
go build -o "$dir/modelgate" ./cmd/modelgate

best() { # best wall time (ms) of 5 runs of "$@", and the peak RSS (KB) of the last
  local b=999999999 rss t0 t1 ms
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    rss=$( { /usr/bin/time -f "%M" "$@" >/dev/null; } 2>&1 | tail -1)
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    (( ms < b )) && b=$ms
  done
  echo "$b $rss"
}

printf '%-14s %8s %10s %24s %24s\n' file size "cat (ms)" "scan --no-sha256 (ms, KB)" "scan with sha256 (ms, KB)"
for f in resnet18.pt big2g.pt; do
  p="$dir/$f"
  cat "$p" > /dev/null
  read -r c _ < <(best sh -c "cat '$p' > /dev/null")
  read -r s rs < <(best "$dir/modelgate" scan --no-sha256 "$p")
  read -r h rh < <(best "$dir/modelgate" scan "$p")
  printf '%-14s %7sM %10s %15s %8s %15s %8s\n' "$f" $(( $(stat -c %s "$p") >> 20 )) "$c" "$s" "$rs" "$h" "$rh"
done
