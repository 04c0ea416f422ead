#!/bin/bash
# Scenario 2 of issue #4 (grub): slot A is copied into USR-B, so B's verity tree matches only
# if the bytes do; one block of B's data (the erofs superblock's) is then corrupted. B gets its
# own boot entry (`basalt boot --disk install-slot B`) and `set-next B --tries 2`. Booting:
# GRUB picks B twice, basalt-init fails to mount B's /usr through dm-verity each time and
# reboots; then GRUB falls back to A, which runs. `basalt boot --disk status` then shows B bad
# with no tries left and A next; grub-editenv agrees.
. "$(dirname "$0")/lib.sh"
vm_require
vm_workdir
vm_disk grub
F=$FIX/grub
A_UUID=$(json_get grub "d['usr']['partuuid']")
B_UUID=$(json_get grub "[p['uuid'] for p in d['disk']['partitions'] if p['number']==4][0]")
HASH=$(json_get grub "d['usr']['root_hash']")
B_OFF=$(part_start "$W/disk.img" 4)
ESP=$(part_start "$W/disk.img" 1)

cp --sparse=always "$F/usr.img" "$W/usrb.img"
printf 'CORRUPTED-BLOCK' | dd of="$W/usrb.img" bs=1 seek=1100 conv=notrunc status=none
dd if="$W/usrb.img" of="$W/disk.img" bs=1M oflag=seek_bytes seek="$B_OFF" conv=notrunc,sparse status=none
mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/A/vmlinuz "$W/vmlinuz"
mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/A/initrd.img "$W/initrd.img"
"$BIN/basalt" boot --disk "$W/disk.img" install-slot B --kernel "$W/vmlinuz" \
  --initrd "$W/initrd.img" --version 1.0-b --usr-partuuid "$B_UUID" --usrhash "$HASH" \
  --cmdline "$VM_CMDLINE" >/dev/null
"$BIN/basalt" boot --disk "$W/disk.img" set-next B --tries 2

out=$(vm_boot 240)
show_console "$out"
b_boots=$(count "$out" "^basalt: booting slot B")
b_fails=$(count "$out" "^basalt-init: FAILED")
[ "$b_boots" = 2 ] && echo "ok: GRUB tried B twice" || { echo "FAIL: B booted $b_boots times"; fail=1; }
[ "$b_fails" = 2 ] && echo "ok: basalt-init failed B twice, one clear line each" || { echo "FAIL: $b_fails FAILED lines"; fail=1; }
check "$out" "^basalt: booting slot A" "GRUB fell back to A"
check "$out" "^BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$A_UUID" "running slot A"
check "$out" "^BASALT-TEST status: .*\"current\":\"A\"" "basalt boot status in the VM: running slot A"
check "$out" "^BASALT-TEST usr: /dev/mapper/usr /usr erofs ro[, ]" "A's /usr on dm-verity"

status=$(status_json)
echo "$status"
check "$status" '"next":"A"' "status: A is next"
check "$status" '"B":\{[^}]*"state":"bad"' "status: B bad"
check "$status" '"B":\{[^}]*"tries":0' "status: B has no tries left"
mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/grubenv "$W/grubenv"
check "$(grub-editenv "$W/grubenv" list)" "^basalt_B_tries=0$" "grub-editenv agrees: basalt_B_tries=0"
exit $fail
