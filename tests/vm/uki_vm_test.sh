#!/bin/bash
# The uki backend under Secure Boot (issue #19), on `basalt image build --boot-backend uki`
# output signed with the fixture's own db key, booted by OVMF with our PK/KEK/db enrolled:
#   1. slot A's signed UKI boots with Secure Boot enforced and /usr on dm-verity;
#   2. a command line given by the loader (a type-1 entry that starts A's UKI with
#      `options init=/bin/sh ...`, which is what a console edit produces) is ignored;
#   3. slot B's UKI with another root hash on its command line, re-signed with a key that is
#      not in db, is refused by the firmware, and boot counting falls back to A;
#   4. the same for slot B's genuine UKI with its signature removed.
# Measured boot (issue #20), in step 1 with a swtpm: PCR 11 as the guest reads it is what
# image.json predicts for A's UKI; the TPM's quote, with the firmware's event log, verifies as
# A "as built"; the secret the fixture sealed to the PCR policy key unseals with the signed
# policy A's UKI carries.
. "$(dirname "$0")/lib.sh"
vm_uki_setup
A_UUID=$(json_get uki "[p['uuid'] for p in d['disk']['partitions'] if p['number']==3][0]")
HASH=$(json_get uki "d['usr']['root_hash']")
B_OFF=$(part_start "$W/disk.img" 4)

# What the image carries is signed by db and verifies with sbverify.
mcopy -n -i "$I" ::/EFI/BOOT/BOOTX64.EFI "$W/bootx64.efi"
mcopy -n -i "$I" ::/EFI/Linux/basalt-1-A.efi "$W/a.efi"
for f in "$W/bootx64.efi" "$W/a.efi" "$F/uki/A.efi" "$F/uki/B.efi"; do
  if sbverify --cert "$K/db.crt" "$f" >/dev/null 2>&1; then echo "ok: sbverify $(basename "$f")"
  else echo "FAIL: sbverify $f"; fail=1; fi
done
cmp -s "$W/a.efi" "$F/uki/A.efi" && echo "ok: the ESP's UKI is uki/A.efi" ||
  { echo "FAIL: the ESP's UKI differs from uki/A.efi"; fail=1; }

status=$(status_json)
check "$status" '"backend":"uki"' "offline: backend uki"
check "$status" "\"A\":\\{[^}]*\"state\":\"good\"[^}]*\"usr_root_hash\":\"$HASH\",\"version\":\"1.0\"" "offline: A good, hash and version from its UKI"

echo "== 1: A's signed UKI under Secure Boot, with a TPM"
nonce=$(vm_nonce)
out=$(vm_boot_measured 200 "$nonce")
show_console "$out"
A_PCR11=$(json_get uki "d['uki']['A']['measurements']['pcr11']")
A_AUTH=$(json_get uki "d['uki']['A']['measurements']['authenticode_sha256']")
check "$out" "^BASALT-TEST pcr11: ${A_PCR11^^}\$" "PCR 11 read in the guest is image.json's prediction for A"
attestation_doc "$out" "$W/a.attest"
v=$("$BIN/basalt" attest verify --ak "$FIX/ak.pem" --nonce "$nonce" --expect-pcr11 "$A_PCR11" \
  --expect-uki-authenticode "$A_AUTH" --release-name 1.0 "$W/a.attest" 2>&1) &&
  echo "ok: attest verify: $(tail -1 <<<"$v")" || { echo "FAIL: attest verify refused A's quote:"; echo "$v"; fail=1; }
check "$v" "^ok +event-log" "the event log replays to the quoted PCRs"
check "$out" "^BASALT-TEST unsealed: $(cat "$FIX/secret")\$" "the sealed secret unseals on A (policy signed in A's UKI)"
check "$out" "EFI stub: UEFI Secure Boot is enabled" "systemd-stub: Secure Boot enabled"
check "$out" "^BASALT-TEST secureboot: +6 0 0 0 1$" "efivars: SecureBoot = 1"
# systemd-boot 252 reports entry ids in lower case.
check "$out" "^BASALT-TEST entry: basalt-1-a.efi$" "systemd-boot started A's type-2 entry"
check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$A_UUID basalt.usrhash=$HASH console=ttyS0 panic=-1\$" "the command line is A's UKI's"
check "$out" "^BASALT-TEST usr: /dev/mapper/usr /usr erofs ro[, ]" "/usr on dm-verity"
check "$out" "^BASALT-TEST dm: usr CRYPT-VERITY-" "dm-verity target"
check "$out" '^BASALT-TEST status: \{"backend":"uki","current":"A"' "in the VM: backend uki, running A"

echo "== 2: a command line from the loader is ignored"
printf 'title injected\nefi /EFI/Linux/basalt-1-A.efi\noptions init=/bin/sh basalt.emergency=shell basalt.usrhash=%064d\n' 0 > "$W/inject.conf"
mmd -i "$I" ::/loader/entries
mcopy -i "$I" "$W/inject.conf" ::/loader/entries/basalt-9-A.conf
out=$(vm_boot_sb 200)
show_console "$out"
check "$out" "^BASALT-TEST entry: basalt-9-a.conf$" "systemd-boot started the entry with options"
check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$A_UUID basalt.usrhash=$HASH console=ttyS0 panic=-1\$" "the UKI's own command line, not the entry's options"
[ "$(count "$out" 'init=/bin/sh')" = 0 ] && echo "ok: init=/bin/sh reached nothing" || { echo "FAIL: init=/bin/sh reached the kernel"; fail=1; }
mdel -i "$I" ::/loader/entries/basalt-9-A.conf

# Slot B gets A's /usr bytes, so only the UKI decides whether B boots.
dd if="$F/usr.img" of="$W/disk.img" bs=1M oflag=seek_bytes seek="$B_OFF" conv=notrunc,sparse status=none
try_b() {  # $1 UKI file, $2 root hash its command line names, $3 what
  "$BIN/basalt" boot --disk "$W/disk.img" install-slot B --uki "$1" --version 1.0 \
    --usr-partuuid "$B_UUID" --usrhash "$2" --cmdline "$VM_CMDLINE" >/dev/null
  "$BIN/basalt" boot --disk "$W/disk.img" set-next B --tries 1 >/dev/null
  out=$(vm_boot_sb 240)
  show_console "$out"
  check "$out" "Security Violation|Access Denied" "$3: refused by the firmware"
  check "$out" "^BASALT-TEST entry: basalt-1-a.efi$" "$3: systemd-boot fell back to A"
  check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$A_UUID " "$3: A runs"
  status=$(status_json)
  check "$status" '"next":"A"' "$3: next A afterwards"
  check "$status" '"B":\{[^}]*"tries":0' "$3: B's try was counted"
}

echo "== 3: B's UKI with another root hash, re-signed with a key not in db"
OTHER=$(printf '%s' "$HASH" | tr '0-9a-f' '1-9a-f0')
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$W/rogue.key" -out "$W/rogue.crt" \
  -days 30 -subj "/CN=not in db/" 2>/dev/null
cp "$F/uki/B.efi" "$W/b.efi" && sbattach --remove "$W/b.efi"
printf 'basalt.usr=PARTUUID=%s basalt.usrhash=%s %s' "$B_UUID" "$OTHER" "$VM_CMDLINE" > "$W/cmdline"
objcopy --update-section .cmdline="$W/cmdline" "$W/b.efi" "$W/b-mod.efi"
sbsign --key "$W/rogue.key" --cert "$W/rogue.crt" --output "$W/b-rogue.efi" "$W/b-mod.efi" 2>/dev/null
sbverify --cert "$K/db.crt" "$W/b-rogue.efi" >/dev/null 2>&1 &&
  { echo "FAIL: the rogue UKI verifies with db"; fail=1; } || echo "ok: the rogue UKI does not verify with db"
try_b "$W/b-rogue.efi" "$OTHER" "rogue-signed UKI"

echo "== 4: B's genuine UKI without its signature"
cp "$F/uki/B.efi" "$W/b-unsigned.efi" && sbattach --remove "$W/b-unsigned.efi"
try_b "$W/b-unsigned.efi" "$HASH" "unsigned UKI"
exit $fail
