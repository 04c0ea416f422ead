#!/usr/bin/env bash
# Times `basalt verity format` against `veritysetup format` on the same 1 GiB random file in the
# same run, and compares both with the physical limit: single-core SHA-256 throughput from
# `openssl speed -evp sha256 -bytes 8192` times the number of cores.
#
# usage: tests/bench/verity_format_bench.sh [BIN_DIR] [SIZE_MIB] [REPETITIONS]
#   BIN_DIR defaults to $BASALT_BIN_DIR, then out/default/bin of this checkout.
# The page cache cannot be dropped without privileges we should not assume, so the file is read
# once before timing and both tools run alternately on the same warm cache.
set -euo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${1:-${BASALT_BIN_DIR:-$here/out/default/bin}}"
size_mib="${2:-1024}"
reps="${3:-5}"
basalt="$bin_dir/basalt"
[[ -x "$basalt" ]] || { echo "no basalt binary at $basalt (build the default preset)" >&2; exit 2; }
command -v veritysetup >/dev/null || { echo "veritysetup not installed (cryptsetup-bin)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/var/tmp}/verity-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
data="$work/data.img"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$data"
cat "$data" >/dev/null
salt="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cores="$(nproc)"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
best_basalt=999999
best_vs=999999
for ((i = 1; i <= reps; i++)); do
  rm -f "$work/ours.hash" "$work/theirs.hash"
  t0=$(now)
  root_ours="$("$basalt" verity format "$data" --hash-file "$work/ours.hash" --salt "$salt")"
  t1=$(now)
  root_theirs="$(veritysetup format "$data" "$work/theirs.hash" --salt "$salt" |
    awk '/Root hash:/ {print $3}')"
  t2=$(now)
  [[ "$root_ours" == "$root_theirs" ]] || { echo "root hash mismatch: $root_ours vs $root_theirs" >&2; exit 1; }
  b=$(calc "$t1 - $t0")
  v=$(calc "$t2 - $t1")
  printf 'run %d: basalt %.3f s, veritysetup %.3f s\n' "$i" "$b" "$v"
  best_basalt=$(calc "($b < $best_basalt) ? $b : $best_basalt")
  best_vs=$(calc "($v < $best_vs) ? $v : $best_vs")
done

# openssl prints "sha256  <16B> <64B> ... <8192B>k"; the last field is kB/s (1000 bytes).
openssl_kbs="$(openssl speed -evp sha256 -bytes 8192 -seconds 3 2>/dev/null | awk '/^sha256/ {print $NF}' | tr -d k)"
mib=$size_mib
tp_basalt=$(calc "$mib / $best_basalt")
tp_vs=$(calc "$mib / $best_vs")
core_mibs=$(calc "$openssl_kbs * 1000 / 1048576")
limit=$(calc "$core_mibs * $cores")
printf '\nbest of %d on %d MiB, %d cores\n' "$reps" "$size_mib" "$cores"
printf 'basalt verity format : %8.1f MiB/s\n' "$tp_basalt"
printf 'veritysetup format   : %8.1f MiB/s\n' "$tp_vs"
printf 'ratio basalt/veritysetup: %.2fx (target >= 2.0x)\n' "$(calc "$tp_basalt / $tp_vs")"
printf 'physical limit (openssl sha256 8 KiB: %.1f MiB/s/core x %d): %.1f MiB/s; basalt reaches %.0f%%\n' \
  "$core_mibs" "$cores" "$limit" "$(calc "100 * $tp_basalt / $limit")"
