#!/bin/bash
# Scenario 1 of issue #4: a fresh `basalt image build` disk boots through OVMF and the backend's
# real boot loader ($1: grub or systemd-boot). On the serial console the test init must see
# /usr mounted from the dm-verity device "usr", erofs, read-only; the kernel command line and
# `basalt boot status` inside the VM must say slot A runs. The disk is 64 MiB larger than
# built, so basalt-init grows ROOT on this first boot. Afterwards `basalt boot --disk status`
# agrees with the backend's own view (grub-editenv list, or the BLS entry names).
BACKEND=${1:?grub or systemd-boot}
. "$(dirname "$0")/lib.sh"
vm_require
vm_workdir
vm_disk "$BACKEND"
A_UUID=$(json_get "$BACKEND" "d['usr']['partuuid']")
HASH=$(json_get "$BACKEND" "d['usr']['root_hash']")
root_built=$(( $(json_get "$BACKEND" "[p['size'] for p in d['disk']['partitions'] if p['number']==9][0]") / 512 ))
truncate -s +64M "$W/disk.img"

out=$(vm_boot 150)
show_console "$out"
check "$out" "^BASALT-TEST usr: /dev/mapper/usr /usr erofs ro[, ]" "/usr is erofs, read-only, from /dev/mapper/usr"
check "$out" "^BASALT-TEST dm: usr CRYPT-VERITY-" "the usr device-mapper target is dm-verity"
check "$out" "^BASALT-TEST cmdline: .*basalt.usr=PARTUUID=$A_UUID basalt.usrhash=$HASH" "slot A's entry booted"
check "$out" "^BASALT-TEST status: .*\"backend\":\"$BACKEND\".*\"current\":\"A\"" "basalt boot status in the VM: running slot A"
root_now=$(sed -n 's/^BASALT-TEST root-size: \([0-9]*\)$/\1/p' <<<"$out")
if [ -n "$root_now" ] && [ "$root_now" -gt "$root_built" ]; then
  echo "ok: basalt-init grew ROOT from $root_built to $root_now sectors"
else
  echo "FAIL: ROOT not grown ($root_built -> ${root_now:-?} sectors)"; fail=1
fi

status=$(status_json)
echo "$status"
check "$status" "\"backend\":\"$BACKEND\"" "offline status: backend $BACKEND"
check "$status" '"next":"A"' "offline status: A next"
check "$status" '"A":\{[^}]*"state":"good"' "offline status: A good"
check "$status" "\"A\":\\{[^}]*\"usr_root_hash\":\"$HASH\"" "offline status: A's usrhash is image.json's root hash"
ESP=$(part_start "$W/disk.img" 1)
if [ "$BACKEND" = grub ]; then
  mcopy -n -i "$W/disk.img@@$ESP" ::/basalt/grubenv "$W/grubenv"
  env=$(grub-editenv "$W/grubenv" list)
  check "$env" "^basalt_A_priority=1$" "grub-editenv: basalt_A_priority=1"
  check "$env" "^basalt_A_ok=1$" "grub-editenv: basalt_A_ok=1"
  check "$env" "^basalt_B_priority=0$" "grub-editenv: basalt_B_priority=0"
else
  entries=$(mdir -b -i "$W/disk.img@@$ESP" ::/loader/entries)
  check "$entries" "basalt-1-A\.conf" "BLS entry basalt-1-A.conf (A blessed, priority 1)"
fi
exit $fail
