#!/bin/bash
# Payload benchmark: delta size/time/peak RSS of `basalt payload generate` against whole-image
# peers on the same two filesystem images, and full-payload apply throughput against the raw
# `zstd -dc | dd conv=fsync` pipeline, all in one run.
# Usage: tests/bench/payload_bench.sh [BIN_DIR]   (env: PAIR=/var/tmp/basalt-os-pair,
#        WORK=/var/tmp/basalt-payload-bench, BSDIFF_TIMEOUT=1800, COMPRESSION=none|lz4hc)
set -euo pipefail
BIN=${1:-${BASALT_BIN_DIR:-out/default/bin}}
BASALT=$(realpath "$BIN/basalt")
PAIR=${PAIR:-/var/tmp/basalt-os-pair}
WORK=${WORK:-/var/tmp/basalt-payload-bench}
BSDIFF_TIMEOUT=${BSDIFF_TIMEOUT:-1800}
mkdir -p "$WORK"
cd "$WORK"

# The two image directories, made by `basalt image build` from the pair's root trees
# (reproducible: fixed seed and SOURCE_DATE_EPOCH). COMPRESSION=none|lz4hc picks the /usr
# filesystem (docs/image.md); the build time is recorded for the issue #3 comparison.
COMPRESSION=${COMPRESSION:-none}
mkimg() {
  local tree=$1 dir=$2 ver=$3
  [ -f "$dir/image.json" ] && return 0
  rm -rf "$dir"
  /usr/bin/time -f "%e %M" -o "build-time.$dir" "$BASALT" image build --rootfs "$tree" \
    --output "$dir" --version "$ver" --seed payload-bench --source-date-epoch 1700000000 \
    --usr-compression "$COMPRESSION" >/dev/null
  echo "image build $dir ($COMPRESSION): $(cat "build-time.$dir") (s, KiB peak)"
}
usr_field() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['usr'][sys.argv[2]])" "$1/image.json" "$2"; }

# measure NAME OUTPUT CMD...: runs CMD under /usr/bin/time and records "size seconds peak_rss_MiB"
# in res.NAME ("-" for the size when it did not finish).
measure() {
  local name=$1 out=$2; shift 2
  local rc=0
  rm -f "$out"
  /usr/bin/time -f "%e %M" -o "time.$name" "$@" >/dev/null 2>"err.$name" || rc=$?
  local s m
  read -r s m < <(tail -1 "time.$name") || true
  if [ "$rc" -ne 0 ] || [ ! -s "$out" ]; then
    echo "- ${s:-?} $(( ${m:-0} / 1024 )) exit=$rc" >"res.$name"
  else
    echo "$(stat -c %s "$out") $s $((m / 1024))" >"res.$name"
  fi
  printf '%-26s %s\n' "$name" "$(cat "res.$name")"
}
field() { awk -v f="$2" '{print $f}' "res.$1"; }
ratio() { python3 -c "print(round($1/$2, 3))"; }

mkimg "$PAIR/old" old-$COMPRESSION 1.0
mkimg "$PAIR/new" new-$COMPRESSION 1.1
O=old-$COMPRESSION N=new-$COMPRESSION
# The peers get the filesystem part only (our payloads never ship the hash tree either).
head -c "$(usr_field $O hash_offset)" $O/usr.img >$O/data.img
head -c "$(usr_field $N hash_offset)" $N/usr.img >$N/data.img
[ -f key.pem ] || { openssl genpkey -algorithm ed25519 -out key.pem; mkdir -p trust; openssl pkey -in key.pem -pubout -out trust/key.pem; }
OLD=$O/data.img NEW=$N/data.img
echo "old erofs $(stat -c %s $OLD) bytes, new erofs $(stat -c %s $NEW) bytes, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f res.*

# Three lanes so the run fits in the wall-clock time of a busy shared machine: ours, then
# apply; the fast peers; bsdiff (the slowest, bounded by BSDIFF_TIMEOUT). Sizes are unaffected;
# times are wall-clock under the same load, so compare ratios within one run.
(
  measure basalt-delta delta.payload "$BASALT" payload generate --old $O --new $N --output delta.payload --key key.pem
  measure basalt-full full.payload "$BASALT" payload generate --new $N --output full.payload --key key.pem
  # What SOURCE_LZ4_PATCH (kernels diffed decompressed) buys, in the same run.
  measure basalt-delta-no-lz4 delta-no-lz4.payload "$BASALT" payload generate --old $O --new $N \
    --output delta-no-lz4.payload --key key.pem --no-lz4-patch
  # Apply throughput: full payload into a file (all verification on) vs the raw pipeline.
  # The raw pipeline decodes a frame of the same level as our full payload's blobs.
  zstd -q -f -9 -T1 "$NEW" -o raw.zst
  sync
  measure apply-full target.img "$BASALT" payload apply full.payload --target target.img --keys trust
  sync
  measure raw-zstd-dd raw.img sh -c "zstd -dc raw.zst | dd of=raw.img bs=1M conv=fsync status=none"
  cmp target.img $N/usr.img
  measure apply-delta target-delta.img "$BASALT" payload apply delta.payload --source $O/usr.img --target target-delta.img --keys trust
  cmp target-delta.img $N/usr.img
  veritysetup verify --hash-offset="$(usr_field $N hash_offset)" target-delta.img target-delta.img \
    "$(usr_field $N root_hash)" && echo "veritysetup verify of the delta result: ok"
) &
(
  measure zstd-19-long-patch-from p.zst zstd -q -f -19 --long=31 --patch-from="$OLD" "$NEW" -o p.zst
  measure xdelta3-9 p.xd3 xdelta3 -f -9 -e -s "$OLD" "$NEW" p.xd3
  measure zstd-19-full new.zst zstd -q -f -19 -T1 "$NEW" -o new.zst
  measure xz-9-full new.xz sh -c "xz -9 -T1 -c $NEW > new.xz"
) &
(
  measure bsdiff p.bsdiff timeout "$BSDIFF_TIMEOUT" bsdiff "$OLD" "$NEW" p.bsdiff
) &
wait
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== summary (size bytes, wall s, peak RSS MiB)"
for r in res.*; do printf '%-26s %s\n' "${r#res.}" "$(cat "$r")"; done
best=""
for p in zstd-19-long-patch-from xdelta3-9 bsdiff; do
  [ "$(field $p 1)" = - ] && continue
  if [ -z "$best" ] || [ "$(field $p 1)" -lt "$(field $best 1)" ]; then best=$p; fi
done
echo "delta / best delta peer ($best): $(ratio "$(field basalt-delta 1)" "$(field $best 1)")"
echo "delta / our full payload: $(ratio "$(field basalt-delta 1)" "$(field basalt-full 1)")"
if [ "$(field bsdiff 1)" != - ]; then
  echo "delta generation time / bsdiff time: $(ratio "$(field basalt-delta 2)" "$(field bsdiff 2)")"
else
  echo "bsdiff did not finish within ${BSDIFF_TIMEOUT}s (delta generation took $(field basalt-delta 2)s)"
fi
usr=$(stat -c %s $N/usr.img)
ours=$(python3 -c "print(round($usr/1e6/$(field apply-full 2),1))")
raw=$(python3 -c "print(round($(stat -c %s $NEW)/1e6/$(field raw-zstd-dd 2),1))")
echo "apply throughput: basalt $ours MB/s, zstd -dc | dd $raw MB/s, ratio $(ratio "$ours" "$raw")"
echo "delta apply: $(field apply-delta 2) s"
