#!/usr/bin/env bash
# Times `basalt verity format` against `veritysetup format` on the same 1 GiB random file in the
# same run, and compares both with the physical limit: single-core SHA-256 throughput from
# `openssl speed -evp sha256 -bytes 8192` times the number of cores.
#
# usage: tests/bench/verity_format_bench.sh [BIN_DIR] [SIZE_MIB] [REPETITIONS]
#   BIN_DIR defaults to $BASALT_BIN_DIR, then out/default/bin of this checkout.
# The page cache cannot be dropped without privileges we should not assume, so the file is read
# once before timing and the two tools run alternately on the same warm cache. Besides wall time
# the script reports CPU time (user+sys): on a shared machine where other jobs keep the cores
# busy, wall time measures the scheduler, CPU time still measures the tool.
# BENCH_NICE=-15 (root only) runs the whole benchmark in its own session whose scheduler
# autogroup gets that nice level (with autogroups, a plain `nice` only ranks processes inside one
# session), the same for both tools; this approximates an idle machine while other jobs run.
set -euo pipefail

if [[ -n "${BENCH_NICE:-}" && -z "${BENCH_IN_SESSION:-}" ]]; then
  exec env BENCH_IN_SESSION=1 setsid --wait "$0" "$@"
fi
if [[ -n "${BENCH_NICE:-}" && -w /proc/self/autogroup ]]; then
  echo "$BENCH_NICE" >/proc/self/autogroup
fi

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
uuid=3f1e5a2c-8b7d-4e6f-9a0b-1c2d3e4f5a6b
cores="$(nproc)"
nice=""
[[ -n "${BENCH_NICE:-}" ]] && nice="nice -n $BENCH_NICE"
calc() { awk "BEGIN { print $* }"; }
min() { calc "($1 < $2) ? $1 : $2"; }

# Runs "$@" with stdout to $work/out; sets wall and cpu (seconds).
timed() {
  local TIMEFORMAT='%R %U %S' t
  t="$({ time $nice "$@" >"$work/out" 2>"$work/err"; } 2>&1)" || { cat "$work/err" >&2; exit 1; }
  read -r wall user sys <<<"$t"
  cpu=$(calc "$user + $sys")
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)${nice:+; both tools run under '$nice'}"
bw=1e9 bc_=1e9 vw=1e9 vc=1e9
for ((i = 1; i <= reps; i++)); do
  rm -f "$work/ours.hash" "$work/theirs.hash"
  timed "$basalt" verity format "$data" --hash-file "$work/ours.hash" --salt "$salt" --uuid "$uuid"
  root_ours="$(cat "$work/out")"
  bw=$(min "$wall" "$bw") bc_=$(min "$cpu" "$bc_")
  printf 'run %d: basalt      %6.3f s wall %6.3f s cpu\n' "$i" "$wall" "$cpu"
  timed veritysetup format "$data" "$work/theirs.hash" --salt "$salt" --uuid "$uuid"
  root_theirs="$(awk '/Root hash:/ {print $3}' "$work/out")"
  vw=$(min "$wall" "$vw") vc=$(min "$cpu" "$vc")
  printf 'run %d: veritysetup %6.3f s wall %6.3f s cpu\n' "$i" "$wall" "$cpu"
  [[ "$root_ours" == "$root_theirs" ]] || { echo "root hash mismatch: $root_ours vs $root_theirs" >&2; exit 1; }
  cmp -s "$work/ours.hash" "$work/theirs.hash" || { echo "hash files differ" >&2; exit 1; }
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# `openssl speed` reports bytes per second of user CPU time; the last column is 8 KiB blocks,
# in units of 1000 bytes.
openssl_kbs="$(openssl speed -evp sha256 -bytes 8192 -seconds 3 2>/dev/null | awk '/^sha256/ {print $NF}' | tr -d k)"
core=$(calc "$openssl_kbs * 1000 / 1048576")
limit=$(calc "$core * $cores")
tb=$(calc "$size_mib / $bw") tv=$(calc "$size_mib / $vw")
cb=$(calc "$size_mib / $bc_") cv=$(calc "$size_mib / $vc")
printf '\nbest of %d on %d MiB (identical roots and hash files), %d cores\n' "$reps" "$size_mib" "$cores"
printf '                       wall MiB/s   MiB per cpu-second\n'
printf 'basalt verity format : %10.1f   %10.1f\n' "$tb" "$cb"
printf 'veritysetup format   : %10.1f   %10.1f\n' "$tv" "$cv"
printf 'ratio (wall)         : %.2fx (target >= 2.0x)\n' "$(calc "$tb / $tv")"
printf 'ratio (cpu)          : %.2fx (what wall time tends to when the cores are busy with other work)\n' "$(calc "$cb / $cv")"
printf 'physical limit: openssl sha256 8 KiB %.1f MiB/s per core x %d = %.1f MiB/s\n' "$core" "$cores" "$limit"
printf 'basalt wall throughput is %.0f%% of the limit; per cpu-second it is %.0f%% of one core'"'"'s sha256\n' \
  "$(calc "100 * $tb / $limit")" "$(calc "100 * $cb / $core")"
