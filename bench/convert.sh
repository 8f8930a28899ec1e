#!/usr/bin/env bash
# Issue 8 benchmark: `modelgate convert` (scan + allowlisted rebuild +
# streaming safetensors write) against `cp` of the same file, and `modelgate
# verify` of the output against its source. Writes a real torchvision
# resnet18 state dict (Debian's python3-torchvision; zip and legacy format)
# and a 2 GiB torch.save-layout checkpoint (bench/gentorch), warm cache, best
# of 3 wall times, with the peak RSS of the last run. convert fsyncs its
# output before renaming it into place, so "cp+sync" is the fair baseline;
# plain cp leaves the data in the page cache.
# Usage: bench/convert.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/out}
mkdir -p "$dir"
[ -f "$dir/resnet18.pt" ] || /usr/bin/python3 -c "import torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), '$dir/resnet18.pt')"
[ -f "$dir/resnet18-legacy.pt" ] || /usr/bin/python3 -c "import torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), '$dir/resnet18-legacy.pt', _use_new_zipfile_serialization=False)"
[ -f "$dir/big2g.pt" ] || go run ./bench/gentorch -size 2048 -tensors 64 -o "$dir/big2g.pt"
go build -o "$dir/modelgate" ./cmd/modelgate

best() { # best wall time (ms) of 3 runs of "$@", and the peak RSS (KB) of the last
  local b=999999999 rss t0 t1 ms
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    rss=$( { /usr/bin/time -f "%M" "$@" >/dev/null; } 2>&1 | tail -1)
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    (( ms < b )) && b=$ms
  done
  echo "$b $rss"
}

printf '%-18s %7s %7s %12s %7s %11s %11s %10s %10s\n' file size "cp ms" "cp+sync ms" "cp KB" "convert ms" "convert KB" "verify ms" "verify KB"
for f in resnet18.pt resnet18-legacy.pt big2g.pt; do
  p="$dir/$f"
  out="$dir/${f%.pt}.safetensors"
  cat "$p" > /dev/null
  read -r c rc < <(best cp "$p" "$dir/copy.tmp")
  read -r cs _ < <(best sh -c "cp '$p' '$dir/copy.tmp' && sync '$dir/copy.tmp'")
  rm -f "$dir/copy.tmp"
  read -r v rv < <(best "$dir/modelgate" convert --force "$p" -o "$out")
  read -r w rw < <(best "$dir/modelgate" verify "$p" "$out")
  printf '%-18s %6sM %7s %12s %7s %11s %11s %10s %10s\n' "$f" $(( $(stat -c %s "$p") >> 20 )) "$c" "$cs" "$rc" "$v" "$rv" "$w" "$rw"
done
rm -f "$dir"/*.safetensors
