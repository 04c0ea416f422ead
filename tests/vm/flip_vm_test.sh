#!/bin/bash
# Scenario 3 of issue #4 (grub): an intact copy of A in USR-B with B's own entry (install-slot,
# B's PARTUUID and usrhash), `set-next B --tries 1`. First boot: GRUB uses B's only try, B runs,
# and `basalt boot mark-good` inside the VM blesses it. Without that, the next boot would fall
# back to A (no tries left); with it, the second boot runs B again.
. "$(dirname "$0")/lib.sh"
vm_require
vm_workdir
vm_disk grub
F=$FIX/grub
B_UUID=$(json_get grub "[p['uuid'] for p in d['disk']['partitions'] if p['number']==4][0]")
HASH=$(json_get grub "d['usr']['root_hash']")
B_OFF=$(part_start "$W/disk.img" 4)
ESP=$(part_start "$W/disk.img" 1)

dd if="$F/usr.img" of="$W/disk.img" bs=1M oflag=seek_bytes seek="$B_OFF" conv=notrunc,sparse status=none
mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/A/vmlinuz "$W/vmlinuz"
mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/A/initrd.img "$W/initrd.img"
"$BIN/basalt" boot --disk "$W/disk.img" install-slot B --kernel "$W/vmlinuz" \
  --initrd "$W/initrd.img" --version 2.0 --usr-partuuid "$B_UUID" --usrhash "$HASH" \
  --cmdline "$VM_CMDLINE" >/dev/null
"$BIN/basalt" boot --disk "$W/disk.img" set-next B --tries 1
status=$(status_json)
check "$status" '"next":"B"' "before boot: B next"
check "$status" '"B":\{[^}]*"tries":1' "before boot: B has one try"

out=$(vm_boot 150)
show_console "$out"
check "$out" "^basalt: booting slot B" "first boot: GRUB picks B"
check "$out" "^BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$B_UUID" "first boot: B's entry"
check "$out" "^BASALT-TEST usr: /dev/mapper/usr /usr erofs ro[, ]" "B's /usr on dm-verity"
check "$out" "^BASALT-TEST status: .*\"current\":\"B\".*\"B\":\\{[^}]*\"tries\":0" "in the VM: running B, its try used"
check "$out" "^BASALT-TEST mark-good: .*\"B\":\\{[^}]*\"state\":\"good\"" "in the VM: mark-good made B good"
status=$(status_json)
echo "$status"
check "$status" '"next":"B"' "after mark-good: B next"
check "$status" '"B":\{[^}]*"state":"good"' "after mark-good: B good"
check "$status" '"A":\{[^}]*"state":"good"' "A still good (the fallback)"

out=$(vm_boot 150)
show_console "$out"
check "$out" "^basalt: booting slot B" "second boot: B sticks"
check "$out" "^BASALT-TEST status: .*\"current\":\"B\"" "second boot: running B"
exit $fail
