#!/bin/bash
# The update flow of a Secure Boot host with the uki backend (issue #19): releases published to a
# static repository carry each slot's signed UKI inside the signed payload; `basalt update apply
# --disk` (the daemon's flow, offline) updates the fixture's v1 disk by delta, verifying B's UKI
# before anything reaches the ESP; the host boots B under Secure Boot and blesses it. Then a
# release whose UKIs are signed with a key the firmware does not have (a bad release: it cannot
# boot) goes to slot A as a full payload, and boot counting falls back to B.
# Measured boot (issue #20), with the fixture's swtpm: the updated host's quote verifies against
# the signed release 2.0 in the repository ("runs release 2.0 as built"), the secret sealed before
# the update unseals with 2.0's signed policy, a replayed quote and another AK are refused; then
# a modified UKI booted without Secure Boot is named by the measurement that differs and does not
# unseal the secret.
. "$(dirname "$0")/lib.sh"
vm_uki_setup

# The releases are built from the fixture's tree with the fixture's seed: the same /usr bytes, so
# the delta is quick to make (source copies) while everything that differs between releases
# here (version, signed UKIs, release metadata) travels through the real flow.
build() {  # $1 version, $2 secure boot key dir
  "$BIN/basalt" image build --rootfs "$FIX/tree" --output "$W/image-$1" --boot-backend uki \
    --secure-boot-key "$2/db.key" --secure-boot-cert "$2/db.crt" \
    --pcr-policy-key "$FIX/pcr-keys/tpm2-pcr-private-key.pem" --version "$1" --seed vm-fixture --source-date-epoch 1700000000 --kernel-cmdline "$VM_CMDLINE" \
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
# attest_verify AK NONCE DOC: the operator's check against the signed release in $repo; sets v
# (its output) and rc (its exit code).
attest_verify() {
  set +e
  v=$("$BIN/basalt" attest verify --ak "$1" --nonce "$2" --repo "$repo" --keys "$W/trusted" "$3" 2>&1)
  rc=$?
  set -e
}
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

# The daemon's flow recorded 2.0's signed PCR 11 prediction for slot B (daemon.md).
B_PCR11=$(python3 -c "import json; print(json.load(open('$W/image-2.0/image.json'))['uki']['B']['measurements']['pcr11'])")
check "$(tr -d ' \n' < "$W/state/state.json")" "\"pcr11_predictions\":\\{\"B\":\\{\"pcr11\":\\[\"$B_PCR11\"" "state.json: B's signed PCR 11 prediction from release 2.0"

echo "== boot 2.0 in slot B under Secure Boot, with the TPM; the test init blesses it"
nonce1=$(vm_nonce)
out=$(vm_boot_measured 240 "$nonce1")
show_console "$out"
check "$out" "^BASALT-TEST pcr11: ${B_PCR11^^}\$" "PCR 11 read in the guest is release 2.0's prediction for B"
attestation_doc "$out" "$W/b.attest"
attest_verify "$FIX/ak.pem" "$nonce1" "$W/b.attest"
[ "$rc" = 0 ] && echo "ok: attest verify accepts the updated host" ||
  { echo "FAIL: attest verify refused the updated host (exit $rc)"; fail=1; }
echo "$v"
check "$v" "runs release 2.0 \(slot B\) as built" "attest verify: the host runs release 2.0 as built"
check "$out" "^BASALT-TEST unsealed: $(cat "$FIX/secret")\$" "the secret sealed before the update unseals with 2.0's signed policy"
attest_verify "$FIX/ak.pem" "$(vm_nonce)" "$W/b.attest"
[ "$rc" = 4 ] && echo "ok: a replayed quote (old nonce) is refused, exit 4" || { echo "FAIL: replayed quote: exit $rc"; fail=1; }
check "$v" "^FAIL nonce" "the refusal names the nonce"
openssl ecparam -name prime256v1 -genkey -noout -out "$W/other-ak.key" 2>/dev/null
openssl ec -in "$W/other-ak.key" -pubout -out "$W/other-ak.pem" 2>/dev/null
attest_verify "$W/other-ak.pem" "$nonce1" "$W/b.attest"
[ "$rc" = 4 ] && echo "ok: a quote checked against another host's AK is refused, exit 4" || { echo "FAIL: other AK: exit $rc"; fail=1; }
check "$v" "^FAIL ak-mismatch" "the refusal names the AK"
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

echo "== a modified UKI in B, booted without Secure Boot: the quote names what differs"
b_file=$(mdir -b -i "$I" ::/EFI/Linux | grep -i 'basalt-.*-B' | head -1)  # "::/EFI/Linux/NAME"
mcopy -n -i "$I" "$b_file" "$W/b-now.efi"
cmp -s "$W/b-now.efi" "$W/image-2.0/uki/B.efi" || { echo "FAIL: B's UKI on the ESP is not 2.0's"; fail=1; }
# One byte of the os-release's PRETTY_NAME inside the UKI: the kernel, initrd and command line
# are untouched, so it boots the same /usr; only its measurements change.
python3 - "$W/b-now.efi" "$W/b-tampered.efi" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b'PRETTY_NAME="Basalt 2.0 (slot B)"')
assert i > 0, "no PRETTY_NAME in the UKI"
d[i + 13] = ord("T")  # "Basalt" -> "Tasalt"
open(sys.argv[2], "wb").write(bytes(d))
PY
mcopy -o -i "$I" "$W/b-tampered.efi" "$b_file"
cp "$OVMF_VARS" "$W/vars-nosb.fd"
nonce3=$(vm_nonce)
vm_tpm "$W/tpm"
out=$(timeout 240 qemu-system-x86_64 -accel tcg -m 1024 -nographic -nic none -machine q35 \
  -drive if=pflash,format=raw,unit=0,readonly=on,file="$OVMF_CODE" \
  -drive if=pflash,format=raw,unit=1,file="$W/vars-nosb.fd" \
  -drive file="$W/disk.img",format=raw,if=virtio "${TPM_ARGS[@]}" \
  -fw_cfg name=opt/basalt/nonce,string="$nonce3" -fw_cfg name=opt/basalt/sealed,file="$FIX/sealed" \
  </dev/null 2>&1 | tr -d '\r' || true)
show_console "$out"
check "$out" "^BASALT-TEST cmdline: basalt.usr=PARTUUID=$B_UUID " "the modified UKI booted (Secure Boot off)"
attestation_doc "$out" "$W/tampered.attest"
attest_verify "$FIX/ak.pem" "$nonce3" "$W/tampered.attest"
echo "$v"
[ "$rc" = 4 ] && echo "ok: attest verify refuses the modified boot, exit 4" || { echo "FAIL: modified boot: exit $rc"; fail=1; }
check "$v" "^FAIL pcr11: PCR 11 is [0-9a-f]{64}" "the refusal names PCR 11 and its value"
check "$v" "^FAIL pcr4-uki" "and that the firmware did not start 2.0's UKI"
check "$out" "^BASALT-TEST unsealed: .*no signed policy for this boot's PCR 11" "the sealed secret does not unseal after the modified boot"
[ "$(count "$out" "$(cat "$FIX/secret")")" = 0 ] && echo "ok: the secret appears nowhere on the console" ||
  { echo "FAIL: the secret was unsealed"; fail=1; }
exit $fail
