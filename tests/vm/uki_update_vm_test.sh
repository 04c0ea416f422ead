#!/bin/bash
# The update flow of a Secure Boot host with the uki backend (issue #19): releases published to a
# static repository carry each slot's signed UKI inside the signed payload; `basalt update apply
# --disk` (the daemon's flow, offline) updates the fixture's v1 disk by delta, verifying B's UKI
# before anything reaches the ESP; the host boots B under Secure Boot and blesses it. Then a
# release whose UKIs are signed with a key the firmware does not have (a bad release: it cannot
# boot) goes to slot A as a full payload, and boot counting falls back to B.
. "$(dirname "$0")/lib.sh"
vm_uki_setup

# The releases are built from the fixture's tree with the fixture's seed: the same /usr bytes, so
# the delta is quick to make (source copies) while everything that differs between releases
# here (version, signed UKIs, release metadata) travels through the real flow.
build() {  # $1 version, $2 secure boot key dir
  "$BIN/basalt" image build --rootfs "$FIX/tree" --output "$W/image-$1" --boot-backend uki \
    --secure-boot-key "$2/db.key" --secure-boot-cert "$2/db.crt" \
    --version "$1" --seed vm-fixture --source-date-epoch 1700000000 --kernel-cmdline "$VM_CMDLINE" \
    --usr-size 256MiB --esp-size 128MiB --oem-size 8MiB --root-size 32MiB >/dev/null 2>&1
}
"$BIN/basalt" keys generate --output "$W/rk" >/dev/null
key=$(ls "$W"/rk/*.pem | grep -v '\.pub\.pem$')
mkdir -p "$W/trusted" && cp "$W"/rk/*.pub.pem "$W/trusted/"
repo=$W/repo
build 2.0 "$K"
"$BIN/basalt" release publish --repo "$repo" --image-dir "$F" --key "$key" >/dev/null
"$BIN/basalt" release publish --repo "$repo" --image-dir "$W/image-2.0" --delta-from "$F" \
  --key "$key" >/dev/null
# release.json is a DSSE envelope: its signed body names each slot's UKI (size, SHA-256).
body=$(python3 -c "import base64,json,sys; print(json.dumps(json.loads(base64.b64decode(json.load(open(sys.argv[1]))['payload'])), separators=(',', ':')))" "$repo/releases/2.0/release.json")
check "$body" "\"B\":\\{[^}]*\"sha256\":\"$(sha256sum "$W/image-2.0/uki/B.efi" | cut -d' ' -f1)\"" "release.json names B's UKI by its SHA-256"
"$BIN/basalt" channel set --repo "$repo" --channel stable --release 2.0 --key "$key" >/dev/null
apply() {  # $1: the new slot's tries
  "$BIN/basalt" update apply --disk "$W/disk.img" --repo "$repo" --channel stable \
    --keys "$W/trusted" --state "$W/state" --tries "$1" --json 2>&1
}

echo "== v1 -> 2.0 by delta, offline"
out=$(apply 3)
echo "$out" | tail -3
check "$out" '"route":"delta"|"delta":true|delta-from' "the delta was used"
status=$(status_json)
echo "$status"
check "$status" '"next":"B"' "B next"
check "$status" '"B":\{[^}]*"tries":3[^}]*"version":"2.0"' "B: 2.0 with 3 tries, read from its UKI"
mcopy -n -i "$I" "::/EFI/Linux/basalt-2-B+3-0.efi" "$W/b.efi" 2>/dev/null ||
  mcopy -n -i "$I" "$(mdir -b -i "$I" ::/EFI/Linux | grep -i 'basalt-.*-B' | sed 's|^|::|' | head -1)" "$W/b.efi"
cmp -s "$W/b.efi" "$W/image-2.0/uki/B.efi" && echo "ok: B's UKI on the ESP is the release's" ||
  { echo "FAIL: B's UKI on the ESP is not 2.0's uki/B.efi"; fail=1; }
sbverify --cert "$K/db.crt" "$W/b.efi" >/dev/null 2>&1 && echo "ok: it verifies with db" ||
  { echo "FAIL: B's UKI does not verify with db"; fail=1; }

echo "== boot 2.0 in slot B under Secure Boot; the test init blesses it"
out=$(vm_boot_sb 240)
show_console "$out"
check "$out" "EFI stub: UEFI Secure Boot is enabled" "Secure Boot enabled"
check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$B_UUID basalt.usrhash=$(python3 -c "import json; print(json.load(open('$W/image-2.0/image.json'))['usr']['root_hash'])") " "B's UKI: B's partition and 2.0's root hash"
check "$out" "^BASALT-TEST usr: /dev/mapper/usr /usr erofs ro[, ]" "B's /usr on dm-verity"
check "$out" '^BASALT-TEST mark-good: .*"current":"B".*"B":\{[^}]*"state":"good"' "in the VM: B blessed"
status=$(status_json)
check "$status" '"B":\{[^}]*"state":"good"' "offline: B good"

echo "== a release whose UKIs the firmware refuses (signed with a key not in db)"
"$BIN/basalt" keys secure-boot --output "$W/other-sb" --common-name "not enrolled" >/dev/null
build 3.0 "$W/other-sb"
"$BIN/basalt" release publish --repo "$repo" --image-dir "$W/image-3.0" --key "$key" >/dev/null
"$BIN/basalt" channel set --repo "$repo" --channel stable --release 3.0 --key "$key" >/dev/null
# One try: each refusal is a round trip through the firmware's whole boot order, which takes
# minutes under TCG; the counting itself is the same as for more tries (uki_vm_test.sh, and
# boot_unit_test's emulation).
out=$(apply 1)
echo "$out" | tail -2
status=$(status_json)
check "$status" '"next":"A"' "3.0 staged in A"
out=$(vm_boot_sb 400)
show_console "$out"
check "$out" "Security Violation|Access Denied" "the firmware refuses 3.0's UKI"
[ "$(count "$out" 'Error loading .*basalt-.*-A.*Access Denied')" = 1 ] && echo "ok: refused once, for its one try" ||
  { echo "FAIL: expected 1 refused attempt, saw $(count "$out" 'Error loading .*Access Denied')"; fail=1; }
check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$B_UUID " "boot counting fell back to B"
status=$(status_json)
echo "$status"
check "$status" '"next":"B"' "next B afterwards"
check "$status" '"A":\{[^}]*"state":"bad"' "A (3.0) bad"
check "$status" '"A":\{[^}]*"tries":0' "A's tries used up"
exit $fail
