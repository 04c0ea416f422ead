#!/bin/bash
# The grub backend in a real VM: OVMF + Debian's GRUB EFI (grub-mkimage) + our grub.cfg and
# grubenv + basalt-init + Debian's cloud kernel + real dm-verity. The disk is assembled here with
# the peer tools (not yet with `basalt image build`):
#   slot A good; B = a copy of A with its first data block corrupted; `basalt boot --disk
#   set-next B --tries 2`. GRUB boots B twice (basalt-init fails verity and reboots each time),
#   then falls back to A, whose test init powers off. Afterwards `basalt boot --disk status`
#   shows B bad with no tries left and A next, and grub-editenv agrees.
# With the argument `flip`: B is an intact copy; `set-next B`, boot: B runs and one try is
# used; `basalt boot --disk mark-good B` (from the host, between boots); boot again: B sticks.
set -euo pipefail
MODE=${1:-fallback}
BIN=${BASALT_BIN_DIR:?}
SRC=${BASALT_SOURCE_DIR:?}
OVMF=/usr/share/OVMF/OVMF_CODE_4M.fd
for t in qemu-system-x86_64 mkfs.erofs veritysetup sgdisk mkfs.ext4 mkfs.fat mcopy cpio busybox \
         grub-mkimage grub-editenv; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -f "$OVMF" ] || { echo "SKIP: OVMF is not installed"; exit 77; }
KTREE=$("$SRC/tests/fixtures/fetch-kernel.sh")
KVER=$(ls "$KTREE/lib/modules")
W=$(mktemp -d /tmp/basalt-grub-vm-XXXXXX)
trap 'rm -rf "$W"' EXIT
export MTOOLS_SKIP_CHECK=1

mkdir -p "$W/tree/usr/bin" "$W/tree/usr/lib/modules"
cp /usr/bin/busybox "$W/tree/usr/bin/busybox"
cp -a "$KTREE/lib/modules/$KVER" "$W/tree/usr/lib/modules/"
"$BIN/basalt" boot initramfs --tree "$W/tree" --kernel-version "$KVER" --init "$BIN/basalt-init" \
  --output-dir "$W/initramfs" >/dev/null
(cd "$W/initramfs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$W/initrd.img"

mkfs.erofs --quiet "$W/usr.img" "$W/tree/usr"
size=$(stat -c %s "$W/usr.img")
hash_offset=$(( (size + 4095) / 4096 * 4096 ))
truncate -s "$hash_offset" "$W/usr.img"
roothash=$(veritysetup format --hash-offset="$hash_offset" "$W/usr.img" "$W/usr.img" \
  | awk '/Root hash:/ {print $3}')

mkdir -p "$W/root/bin" "$W/root/sbin" "$W/root/usr" "$W/root/proc" "$W/root/sys" "$W/root/dev" "$W/root/run"
cp /usr/bin/busybox "$W/root/bin/busybox"
ln -s busybox "$W/root/bin/sh"
cat > "$W/root/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc 2>/dev/null
echo "BASALT-TEST cmdline: $(/bin/busybox cat /proc/cmdline)"
echo "BASALT-TEST usr: $(/bin/busybox grep ' /usr ' /proc/mounts)"
/bin/busybox poweroff -f
INIT
chmod 755 "$W/root/sbin/init"
mkfs.ext4 -q -L ROOT -d "$W/root" "$W/root.img" 16M

A_UUID=11111111-2222-3333-4444-555555555555
B_UUID=66666666-7777-8888-9999-AAAAAAAAAAAA
usr_mib=$(( $(stat -c %s "$W/usr.img") / 1048576 + 1 ))
truncate -s $(( 8 + 96 + 2 * usr_mib + 16 + 2 ))M "$W/disk.img"
sgdisk -n1:2048:+96M -t1:C12A7328-F81F-11D2-BA4B-00A0C93EC93B -c1:EFI-SYSTEM \
  -n3:0:+${usr_mib}M -t3:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6 -c3:USR-A -u3:$A_UUID \
  -n4:0:+${usr_mib}M -t4:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6 -c4:USR-B -u4:$B_UUID \
  -n9:0:+16M -t9:3884DD41-8582-4404-B9A8-E9B84F2DF50E -c9:ROOT "$W/disk.img" >/dev/null
start() { sgdisk -i "$1" "$W/disk.img" | awk '/First sector/ {print $3}'; }
dd if="$W/usr.img" of="$W/disk.img" bs=512 seek="$(start 3)" conv=notrunc status=none
# B: the same bytes with one block of data corrupted (the erofs superblock's block).
cp "$W/usr.img" "$W/usrb.img"
if [ "$MODE" = fallback ]; then
  printf 'CORRUPTED-BLOCK' | dd of="$W/usrb.img" bs=1 seek=1100 conv=notrunc status=none
fi
dd if="$W/usrb.img" of="$W/disk.img" bs=512 seek="$(start 4)" conv=notrunc status=none
dd if="$W/root.img" of="$W/disk.img" bs=512 seek="$(start 9)" conv=notrunc status=none

# ESP: vfat inside the disk, populated without mounting.
esp_off=$(( $(start 1) * 512 ))
mkfs.fat -n EFI-SYSTEM --offset "$(start 1)" "$W/disk.img" 98304 >/dev/null
E="$W/disk.img@@$esp_off"
CMDLINE="console=ttyS0 panic=-1 basalt.grow=0"
"$BIN/basalt" boot esp-layout --version 1.0 --usr-partuuid $A_UUID --usrhash "$roothash" \
  --cmdline "$CMDLINE" --output-dir "$W/esp" >/dev/null
grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$W/esp/EFI/BOOT/BOOTX64.EFI" part_gpt fat normal \
  linux configfile loadenv test echo serial terminal efi_gop all_video sleep reboot halt search cat gzio chain
mkdir -p "$W/esp/basalt/A"
cp "$KTREE/boot/vmlinuz-$KVER" "$W/esp/basalt/A/vmlinuz"
cp "$W/initrd.img" "$W/esp/basalt/A/initrd.img"
mcopy -s -i "$E" "$W/esp/EFI" "$W/esp/basalt" ::/

"$BIN/basalt" boot --disk "$W/disk.img" install-slot B --kernel "$KTREE/boot/vmlinuz-$KVER" \
  --initrd "$W/initrd.img" --version 2.0 --usr-partuuid $B_UUID --usrhash "$roothash" \
  --cmdline "$CMDLINE" >/dev/null
"$BIN/basalt" boot --disk "$W/disk.img" set-next B --tries 2

cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
fail=0
check() { if grep -qE "$2" <<<"$1"; then echo "ok: $3"; else echo "FAIL: $3 (no /$2/)"; fail=1; fi; }
vmboot() {
  timeout 300 qemu-system-x86_64 -accel tcg -m 768 -nographic -no-reboot \
    -drive if=pflash,format=raw,readonly=on,file="$OVMF" -drive if=pflash,format=raw,file="$W/vars.fd" \
    -drive file="$W/disk.img",format=raw,if=virtio 2>&1 | tr -d '\r' || true
}
if [ "$MODE" = flip ]; then
  out=$(vmboot)
  echo "$out" | grep -E "^basalt|BASALT-TEST" || true
  check "$out" "^basalt: booting slot B" "first boot: GRUB picks B"
  check "$out" "BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$B_UUID" "first boot: running slot B"
  check "$out" "BASALT-TEST usr: /dev/mapper/usr /usr erofs ro" "B's /usr on dm-verity"
  status=$("$BIN/basalt" boot --disk "$W/disk.img" status --json)
  check "$status" '"B":\{[^}]*"state":"pending"[^}]*"tries":1' "after one boot: B pending with 1 try left"
  "$BIN/basalt" boot --disk "$W/disk.img" mark-good B >/dev/null
  out=$(vmboot)
  check "$out" "BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$B_UUID" "after mark-good: B sticks"
  out=$(vmboot)
  check "$out" "BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$B_UUID" "and again"
  status=$("$BIN/basalt" boot --disk "$W/disk.img" status --json)
  echo "$status"
  check "$status" '"next":"B"' "status: B next"
  check "$status" '"B":\{"bad":false,"good":true' "status: B good"
  check "$status" '"A":\{"bad":false,"good":true' "status: A still good (fallback)"
  exit $fail
fi
out=$(timeout 480 qemu-system-x86_64 -accel tcg -m 768 -nographic \
  -drive if=pflash,format=raw,readonly=on,file="$OVMF" -drive if=pflash,format=raw,file="$W/vars.fd" \
  -drive file="$W/disk.img",format=raw,if=virtio 2>&1 | tr -d '\r' || true)
echo "$out" | grep -E "^basalt|BASALT-TEST" || true

b_boots=$(grep -c "^basalt: booting slot B" <<<"$out" || true)
b_fails=$(grep -c "^basalt-init: FAILED: open /usr with dm-verity" <<<"$out" || true)
[ "$b_boots" = 2 ] && echo "ok: GRUB tried B twice" || { echo "FAIL: B booted $b_boots times"; fail=1; }
[ "$b_fails" = 2 ] && echo "ok: basalt-init failed B twice with a clear line" || { echo "FAIL: $b_fails FAILED lines"; fail=1; }
check "$out" "^basalt: booting slot A" "GRUB fell back to A"
check "$out" "BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$A_UUID" "running slot A"
check "$out" "BASALT-TEST usr: /dev/mapper/usr /usr erofs ro" "A's /usr on dm-verity"
status=$("$BIN/basalt" boot --disk "$W/disk.img" status --json)
echo "$status"
check "$status" '"next":"A"' "status: A is next"
check "$status" '"B":\{"bad":true' "status: B bad"
check "$status" '"B":\{[^}]*"tries":0' "status: B has no tries left"
mcopy -n -i "$E" ::/basalt/grubenv "$W/grubenv"
check "$(grub-editenv "$W/grubenv" list)" "^basalt_B_tries=0$" "grub-editenv agrees: basalt_B_tries=0"
exit $fail
