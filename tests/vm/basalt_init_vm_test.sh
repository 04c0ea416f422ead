#!/bin/bash
# basalt-init in a real VM (QEMU TCG, Debian's cloud kernel, direct kernel boot): a GPT disk with
# an erofs /usr + appended dm-verity tree (veritysetup format) and an ext4 ROOT with free space
# after it. Checks, from the serial console:
#   1. intact /usr: the test init sees /usr mounted from the dm-verity device, erofs, read-only,
#      and ROOT was grown to the end of the disk;
#   2. wrong root hash: basalt-init prints one FAILED line and reboots (QEMU exits, -no-reboot).
# Independent of the image builder: the disk is made here with the peer tools.
set -euo pipefail
BIN=${BASALT_BIN_DIR:?}
SRC=${BASALT_SOURCE_DIR:?}
for t in qemu-system-x86_64 mkfs.erofs veritysetup sgdisk mkfs.ext4 cpio busybox; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
KTREE=$("$SRC/tests/fixtures/fetch-kernel.sh")
KVER=$(ls "$KTREE/lib/modules")
W=$(mktemp -d /tmp/basalt-init-vm-XXXXXX)
trap 'rm -rf "$W"' EXIT

# The image's tree: busybox and the kernel's modules (merged /usr).
mkdir -p "$W/tree/usr/bin" "$W/tree/usr/lib/modules"
cp /usr/bin/busybox "$W/tree/usr/bin/busybox"
cp -a "$KTREE/lib/modules/$KVER" "$W/tree/usr/lib/modules/"
echo "basalt test usr" > "$W/tree/usr/marker"

# Initramfs: staged by basalt, packed by cpio.
"$BIN/basalt" boot initramfs --tree "$W/tree" --kernel-version "$KVER" --init "$BIN/basalt-init" \
  --output-dir "$W/initramfs"
(cd "$W/initramfs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$W/initrd.img"

# /usr: erofs of tree/usr with the hash tree appended at the end of the filesystem.
mkfs.erofs --quiet "$W/usr.img" "$W/tree/usr"
size=$(stat -c %s "$W/usr.img")
hash_offset=$(( (size + 4095) / 4096 * 4096 ))
truncate -s "$hash_offset" "$W/usr.img"
roothash=$(veritysetup format --hash-offset="$hash_offset" "$W/usr.img" "$W/usr.img" \
  | awk '/Root hash:/ {print $3}')

# ROOT: ext4 with a test init that reports what basalt-init set up.
mkdir -p "$W/root/bin" "$W/root/sbin" "$W/root/usr"
cp /usr/bin/busybox "$W/root/bin/busybox"
ln -s busybox "$W/root/bin/sh"
cat > "$W/root/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc 2>/dev/null
echo "BASALT-TEST usr: $(/bin/busybox grep ' /usr ' /proc/mounts)"
echo "BASALT-TEST marker: $(/bin/busybox cat /usr/marker)"
echo "BASALT-TEST dm: $(/bin/busybox cat /sys/block/dm-0/dm/name)"
echo "BASALT-TEST root-size: $(/bin/busybox cat /sys/class/block/vda9/size)"
/bin/busybox poweroff -f
INIT
chmod 755 "$W/root/sbin/init"
mkdir -p "$W/root/proc" "$W/root/sys" "$W/root/dev" "$W/root/run"
mkfs.ext4 -q -L ROOT -d "$W/root" "$W/root.img" 16M

# Disk: Flatcar numbering; ROOT (#9) is followed by 32 MiB of free space to grow into.
usr_size=$(stat -c %s "$W/usr.img")
truncate -s 128M "$W/disk.img"
sgdisk -n1:2048:+8M -t1:C12A7328-F81F-11D2-BA4B-00A0C93EC93B -c1:EFI-SYSTEM \
  -n3:0:+$(( usr_size / 1048576 + 1 ))M -t3:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6 -c3:USR-A \
  -n9:0:+16M -t9:3884DD41-8582-4404-B9A8-E9B84F2DF50E -c9:ROOT "$W/disk.img" >/dev/null
start() { sgdisk -i "$1" "$W/disk.img" | awk '/First sector/ {print $3}'; }
dd if="$W/usr.img" of="$W/disk.img" bs=512 seek="$(start 3)" conv=notrunc status=none
dd if="$W/root.img" of="$W/disk.img" bs=512 seek="$(start 9)" conv=notrunc status=none
root_sectors_before=$(sgdisk -i 9 "$W/disk.img" | awk '/Partition size/ {print $3}')

boot() {  # $1: root hash; output on stdout
  timeout 180 qemu-system-x86_64 -accel tcg -m 768 -nographic -no-reboot \
    -kernel "$KTREE/boot/vmlinuz-$KVER" -initrd "$W/initrd.img" \
    -append "console=ttyS0 panic=-1 basalt.usr=PARTLABEL=USR-A basalt.usrhash=$1" \
    -drive file="$W/disk.img",format=raw,if=virtio 2>&1 || true
}

fail=0
check() {  # $1 output, $2 pattern, $3 what
  if grep -qE "$2" <<<"$1"; then echo "ok: $3"; else echo "FAIL: $3 (no /$2/)"; fail=1; fi
}

out=$(boot "$roothash")
echo "$out" | grep -E "basalt-init|BASALT-TEST" || true
check "$out" "BASALT-TEST usr: /dev/(mapper/usr|dm-0) /usr erofs ro" "/usr is erofs, read-only, on dm-verity"
check "$out" "BASALT-TEST marker: basalt test usr" "/usr content readable through verity"
check "$out" "BASALT-TEST dm: usr" "the device-mapper device is basalt-init's 'usr'"
check "$out" "basalt-init: grew ROOT partition by" "ROOT partition grown on first boot"
root_sectors_after=$(sgdisk -i 9 "$W/disk.img" | awk '/Partition size/ {print $3}')
if [ "$root_sectors_after" -gt "$root_sectors_before" ]; then echo "ok: ROOT $root_sectors_before -> $root_sectors_after sectors"; else echo "FAIL: ROOT not grown"; fail=1; fi
sgdisk -v "$W/disk.img" | grep -q "No problems found" && echo "ok: GPT valid after growth" || { echo "FAIL: sgdisk -v"; fail=1; }

bad=$(echo "$roothash" | tr '0-9a-f' '1-9a-f0')
out=$(boot "$bad")
echo "$out" | grep -E "basalt-init" || true
check "$out" "basalt-init: FAILED: open /usr with dm-verity: .*root hash [0-9a-f]+ does not match" "wrong root hash: one clear FAILED line"
check "$out" "basalt-init: rebooting" "wrong root hash: reboots"
[ "$(grep -c '^basalt-init: FAILED' <<<"$out")" = 1 ] && echo "ok: exactly one FAILED line" || { echo "FAIL: FAILED line count"; fail=1; }
exit $fail
