#!/usr/bin/env bash
# Benchmark: `basalt image build` against the bare tool pipeline a user would otherwise script on
# the same tree: cp -a of the ROOT seed + mkfs.ext4 -d, mkfs.erofs + veritysetup format for /usr,
# sfdisk for the GPT, dd to place the partitions. Prints both times, our per-step breakdown and
# the ratio. Usage: image_build_bench.sh [TREE] [BASALT_BIN]
set -euo pipefail
TREE=${1:-/var/tmp/basalt-os-pair/new}
BASALT=${2:-$(dirname "$0")/../../out/default/bin/basalt}
WORK=$(mktemp -d /var/tmp/basalt-image-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SDE=1700000000
ESP=256 USR=1024 OEM=128 ROOT=1024  # MiB, basalt's defaults

now() { date +%s.%N; }

bare() {
  local w=$WORK/bare; mkdir -p "$w/root"
  # ROOT content: the same top-level entries basalt seeds ROOT with.
  for e in bin etc home lib lib32 lib64 libx32 media mnt opt root sbin srv tmp var; do
    [ -e "$TREE/$e" ] || [ -L "$TREE/$e" ] && cp -a "$TREE/$e" "$w/root/"
  done
  mkdir -p "$w/root/usr" "$w/root/boot" "$w/root/dev" "$w/root/proc" "$w/root/run" "$w/root/sys"
  mkfs.erofs --quiet -T$SDE "$w/usr.img" "$TREE/usr"
  local data=$(stat -c %s "$w/usr.img")
  veritysetup format "$w/usr.img" "$w/usr.img" --hash-offset=$data >/dev/null
  truncate -s ${ROOT}M "$w/root.img"
  E2FSPROGS_FAKE_TIME=$SDE mkfs.ext4 -q -F -L ROOT -d "$w/root" "$w/root.img"
  truncate -s ${OEM}M "$w/oem.img"; mkfs.ext4 -q -F -L OEM "$w/oem.img"
  mkfs.fat -C -F 32 -n EFI-SYSTEM "$w/esp.img" $((ESP * 1024)) >/dev/null
  truncate -s $(( (1 + ESP + 2 * USR + OEM + ROOT + 1) ))M "$w/disk.img"
  sfdisk -q "$w/disk.img" <<SF
label: gpt
1 : start=1MiB, size=${ESP}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=EFI-SYSTEM
3 : size=${USR}MiB, type=5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6, name=USR-A, attrs="GUID:48,56"
4 : size=${USR}MiB, type=5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6, name=USR-B
6 : size=${OEM}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=OEM
9 : size=${ROOT}MiB, type=3884DD41-8582-4404-B9A8-E9B84F2DF50E, name=ROOT
SF
  dd if="$w/esp.img" of="$w/disk.img" bs=1M seek=1 conv=sparse,notrunc status=none
  dd if="$w/usr.img" of="$w/disk.img" bs=1M seek=$((1 + ESP)) conv=sparse,notrunc status=none
  dd if="$w/oem.img" of="$w/disk.img" bs=1M seek=$((1 + ESP + 2 * USR)) conv=sparse,notrunc status=none
  dd if="$w/root.img" of="$w/disk.img" bs=1M seek=$((1 + ESP + 2 * USR + OEM)) conv=sparse,notrunc status=none
  sync -f "$w/disk.img"
}

ours() {
  "$BASALT" image build --rootfs "$TREE" --output "$WORK/ours" --source-date-epoch $SDE --seed bench --json >"$WORK/ours.json"
}

# Warm the page cache so both start from the same state.
tar -C "$TREE" -cf - . >/dev/null 2>&1 || true
t0=$(now); bare; t1=$(now); ours; t2=$(now)
rm -rf "$WORK/bare" "$WORK/ours"
t3=$(now); ours; t4=$(now); bare; t5=$(now)
calc() { python3 -c "print($1)"; }
bare_s=$(calc "($t1 - $t0 + $t5 - $t4) / 2")
ours_s=$(calc "($t2 - $t1 + $t4 - $t3) / 2")
printf 'tree: %s (%s)\n' "$TREE" "$(du -sh --apparent-size "$TREE/usr" | cut -f1) /usr"
printf 'bare pipeline (cp -a + mkfs.erofs + veritysetup + mkfs.ext4 -d + mkfs.fat + sfdisk + dd): %.2f s\n' "$bare_s"
printf 'basalt image build: %.2f s\n' "$ours_s"
printf 'basalt breakdown (ms, last run): %s\n' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings_ms"])' "$WORK/ours.json")"
printf 'ratio basalt/bare: %.2f\n' "$(calc "$ours_s / $bare_s")"
