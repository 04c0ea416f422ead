#!/bin/bash
# Payload benchmark: delta size/time/peak RSS of `basalt payload generate` against whole-image
# peers on the same two filesystem images, and full-payload apply throughput against the raw
# `zstd -dc | dd conv=fsync` pipeline, all in one run.
# Usage: tests/bench/payload_bench.sh [BIN_DIR]   (env: PAIR=/var/tmp/basalt-os-pair,
#        WORK=/var/tmp/basalt-payload-bench, BSDIFF_TIMEOUT=1800)
set -euo pipefail
BIN=${1:-${BASALT_BIN_DIR:-out/default/bin}}
BASALT=$(realpath "$BIN/basalt")
PAIR=${PAIR:-/var/tmp/basalt-os-pair}
WORK=${WORK:-/var/tmp/basalt-payload-bench}
BSDIFF_TIMEOUT=${BSDIFF_TIMEOUT:-1800}
mkdir -p "$WORK"
cd "$WORK"

# An image directory as `basalt image build` lays it out: erofs of /usr (uncompressed, fixed
# timestamp and UUID) with the veritysetup hash area appended, plus image.json.
mkimg() {
  local tree=$1 dir=$2 ver=$3
  [ -f "$dir/image.json" ] && return 0
  mkdir -p "$dir"
  mkfs.erofs -T0 -U 6c0d1a52-3e8f-4b1e-9d6a-0a1b2c3d4e5f "$dir/data.img" "$tree" >/dev/null
  cp "$dir/data.img" "$dir/usr.img"
  local sz; sz=$(stat -c %s "$dir/data.img")
  local root
  root=$(veritysetup format --hash-offset="$sz" --data-blocks=$((sz / 4096)) --salt=5eed5eed \
    --uuid=6c0d1a52-3e8f-4b1e-9d6a-0a1b2c3d4e5f "$dir/usr.img" "$dir/usr.img" | awk '/Root hash/{print $3}')
  cat >"$dir/image.json" <<EOJ
{"version":"$ver","usr":{"root_hash":"$root","salt":"5eed5eed","hash_algorithm":"sha256","data_block_size":4096,"hash_block_size":4096,"data_blocks":$((sz / 4096)),"hash_offset":$sz,"size":$(stat -c %s "$dir/usr.img"),"sha256":"$(sha256sum "$dir/usr.img" | cut -d' ' -f1)"}}
EOJ
}

# measure NAME OUTPUT CMD...: runs CMD under /usr/bin/time, records seconds, peak RSS, size.
declare -A SIZE SECS RSS
measure() {
  local name=$1 out=$2; shift 2
  sync
  local rc=0
  /usr/bin/time -f "%e %M" -o "$WORK/time.$name" "$@" >/dev/null 2>"$WORK/err.$name" || rc=$?
  read -r s m <"$WORK/time.$name" || true
  if [ "$rc" -ne 0 ] || [ ! -s "$out" ]; then
    SIZE[$name]=-; SECS[$name]=">${s:-?}"; RSS[$name]=$(( ${m:-0} / 1024 ))
    echo "$name: did not finish (exit $rc)"; return 0
  fi
  SIZE[$name]=$(stat -c %s "$out"); SECS[$name]=$s; RSS[$name]=$((m / 1024))
  printf '%-28s %12s bytes %8s s %6s MiB\n' "$name" "${SIZE[$name]}" "${SECS[$name]}" "${RSS[$name]}"
}

mkimg "$PAIR/old/usr" old 1.0
mkimg "$PAIR/new/usr" new 1.1
[ -f key.pem ] || { openssl genpkey -algorithm ed25519 -out key.pem; mkdir -p trust; openssl pkey -in key.pem -pubout -out trust/key.pem; }
OLD=old/data.img NEW=new/data.img
echo "old erofs $(stat -c %s $OLD) bytes, new erofs $(stat -c %s $NEW) bytes, $(nproc) cores"

measure basalt-delta delta.payload "$BASALT" payload generate --old old --new new --output delta.payload --key key.pem
measure basalt-full full.payload "$BASALT" payload generate --new new --output full.payload --key key.pem
measure zstd-19-long-patch-from p.zst zstd -q -f -19 --long=31 --patch-from="$OLD" "$NEW" -o p.zst
measure xdelta3-9 p.xd3 xdelta3 -f -9 -e -s "$OLD" "$NEW" p.xd3
measure bsdiff p.bsdiff timeout "$BSDIFF_TIMEOUT" bsdiff "$OLD" "$NEW" p.bsdiff
measure zstd-19-full new.zst zstd -q -f -19 "$NEW" -o new.zst
measure xz-9-full new.xz sh -c "xz -9 -T1 -c $NEW > new.xz"

best=""
for p in zstd-19-long-patch-from xdelta3-9 bsdiff; do
  [ "${SIZE[$p]}" = - ] && continue
  if [ -z "$best" ] || [ "${SIZE[$p]}" -lt "${SIZE[$best]}" ]; then best=$p; fi
done
echo
echo "delta / best peer ($best): $(python3 -c "print(round(${SIZE[basalt-delta]}/${SIZE[$best]},3))")"
echo "delta / our full payload: $(python3 -c "print(round(${SIZE[basalt-delta]}/${SIZE[basalt-full]},3))")"
if [ "${SIZE[bsdiff]}" != - ]; then
  echo "delta generation time / bsdiff time: $(python3 -c "print(round(${SECS[basalt-delta]}/${SECS[bsdiff]},3))")"
fi

# Apply throughput: full payload into a file (all verification on) vs the raw pipeline.
rm -f target.img raw.img
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
measure apply-full target.img "$BASALT" payload apply full.payload --target target.img --keys trust
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
measure raw-zstd-dd raw.img sh -c "zstd -dc new.zst | dd of=raw.img bs=1M conv=fsync status=none"
cmp target.img new/usr.img
usr=$(stat -c %s new/usr.img)
echo "apply throughput: basalt $(python3 -c "print(round($usr/1e6/${SECS[apply-full]},1))") MB/s, raw pipeline $(python3 -c "print(round($(stat -c %s $NEW)/1e6/${SECS[raw-zstd-dd]},1))") MB/s, ratio $(python3 -c "print(round(($usr/${SECS[apply-full]})/($(stat -c %s $NEW)/${SECS[raw-zstd-dd]}),3))")"
rm -f target-delta.img
measure apply-delta target-delta.img "$BASALT" payload apply delta.payload --source old/usr.img --target target-delta.img --keys trust
cmp target-delta.img new/usr.img
veritysetup verify --hash-offset="$(stat -c %s $NEW)" target-delta.img target-delta.img \
  "$(python3 -c "import json;print(json.load(open('new/image.json'))['usr']['root_hash'])")" && echo "veritysetup verify: ok"
