# Shared pieces of the VM scenarios (sourced, not run). The fixture is built once per ctest
# run by tests/vm/fixture.sh (a FIXTURES_SETUP test) into $BASALT_VM_FIXTURE:
#   tree/            busybox + Debian's cloud kernel and modules + the host's basalt (merged /usr)
#   grub/, systemd-boot/   `basalt image build` output of that tree for each backend
# Each scenario works on its own sparse copy of a disk.img.
set -euo pipefail
BIN=${BASALT_BIN_DIR:?}
SRC=${BASALT_SOURCE_DIR:?}
FIX=${BASALT_VM_FIXTURE:?}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
export MTOOLS_SKIP_CHECK=1
# The extra kernel command line every image of the fixture carries (the definition's
# kernel.cmdline): serial console, reboot at once on a panic.
VM_CMDLINE="console=ttyS0 panic=-1"

vm_require() {
  local t
  for t in qemu-system-x86_64 mcopy sgdisk grub-editenv busybox "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
  done
  [ -f "$OVMF_CODE" ] || { echo "SKIP: OVMF is not installed"; exit 77; }
  [ -f "$FIX/.complete" ] || { echo "FAIL: the VM fixture was not built ($FIX)"; exit 1; }
}

vm_workdir() {  # sets W, removed on exit
  W=$(mktemp -d /tmp/basalt-vm-XXXXXX)
  trap 'rm -rf "$W"' EXIT
  cp "$OVMF_VARS" "$W/vars.fd"
}

# image.json field of a fixture build: json_get BACKEND jq-like-python-expression
json_get() {
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$FIX/$1/image.json"
}

part_start() {  # byte offset of partition $2 in disk $1
  echo $(( $(sgdisk -i "$2" "$1" | awk '/First sector/ {print $3}') * 512 ))
}

# Copies the fixture disk of backend $1 to $W/disk.img (sparse).
vm_disk() {
  cp --sparse=always "$FIX/$1/disk.img" "$W/disk.img"
}

# Boots $W/disk.img through OVMF and the ESP's boot loader until the guest powers off (the test
# init does) or $1 seconds pass; the guest may reboot any number of times in between (GRUB's
# fallback). Further arguments go to QEMU (a second disk, say). Serial output, without CRs, goes
# to stdout.
vm_boot() {
  local limit=${1:-120}
  shift || true
  timeout "$limit" qemu-system-x86_64 -accel tcg -m 1024 -nographic \
    -drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
    -drive if=pflash,format=raw,file="$W/vars.fd" \
    -drive file="$W/disk.img",format=raw,if=virtio "$@" </dev/null 2>&1 | tr -d '\r' || true
}

# The uki scenarios: OVMF with Secure Boot (SMM, secure flash) and the fixture's variable store
# with our own PK/KEK/db enrolled (fixture.sh). No NIC: when systemd-boot cannot start a refused
# UKI it returns to the firmware, which goes on through its boot order and then starts over
# (systemd-boot again, which now picks the fallback slot); network boot options in between
# (iPXE, PXE over IPv4 and IPv6) would cost minutes of DHCP timeouts under TCG.
OVMF_CODE_SB=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
vm_require_sb() {
  vm_require sbverify sbattach objcopy
  [ -f "$FIX/.uki-complete" ] || { echo "SKIP: the fixture has no uki image (sbsigntool, efitools or OVMF's secboot code missing)"; exit 77; }
  cp "$FIX/uki-vars.fd" "$W/vars.fd"
}
# A work directory with the fixture's uki disk and enrolled variables; sets F (the image), K (its
# Secure Boot keys), B_UUID, ESP (byte offset) and I (the ESP for mtools).
vm_uki_setup() {
  vm_workdir
  vm_require_sb
  vm_disk uki
  F=$FIX/uki
  K=$FIX/sb-keys
  B_UUID=$(json_get uki "[p['uuid'] for p in d['disk']['partitions'] if p['number']==4][0]")
  ESP=$(part_start "$W/disk.img" 1)
  I="$W/disk.img@@$ESP"
  [ -f "$FIX/.tpm-complete" ] && cp -a "$FIX/tpm" "$W/tpm"
  return 0
}
vm_boot_sb() {
  local limit=${1:-120}
  shift || true
  timeout "$limit" qemu-system-x86_64 -accel tcg -m 1024 -nographic -nic none -machine q35,smm=on \
    -global driver=cfi.pflash01,property=secure,value=on \
    -drive if=pflash,format=raw,unit=0,readonly=on,file="$OVMF_CODE_SB" \
    -drive if=pflash,format=raw,unit=1,file="$W/vars.fd" \
    -drive file="$W/disk.img",format=raw,if=virtio "$@" </dev/null 2>&1 | tr -d '\r' || true
}

# A TPM for one QEMU run: swtpm over the TPM state in $1 (a copy of the fixture's $FIX/tpm, so
# every scenario's host has the same endorsement and storage seeds: the fixture's enrolled AK and
# sealed secret belong to it). Sets TPM_ARGS for QEMU (a CRB TPM, as systemd expects on x86);
# swtpm exits when QEMU disconnects (--terminate). The state path must be absolute: swtpm
# changes to / when it daemonizes.
vm_tpm() {
  command -v swtpm >/dev/null || { echo "SKIP: swtpm is not installed"; exit 77; }
  [ -f "$FIX/.tpm-complete" ] || { echo "SKIP: the fixture has no TPM state (swtpm missing when it was built)"; exit 77; }
  swtpm socket --tpm2 --tpmstate dir="$1" --ctrl type=unixio,path="$1/sock" --terminate \
    --daemon --pid file="$1/pid" --log file="$1/log"
  TPM_ARGS=(-chardev socket,id=chrtpm,path="$1/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
            -device tpm-crb,tpmdev=tpm0)
}
# A fresh nonce, as a verifier makes one per quote (hex, 32 bytes).
vm_nonce() {
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}
# vm_boot_measured LIMIT NONCE [QEMU args]: vm_boot_sb with the scenario's TPM, the verifier's
# nonce and the fixture's sealed secret handed to the test init through fw_cfg (it quotes and
# unseals; fixture.sh).
vm_boot_measured() {
  local limit=$1 nonce=$2
  shift 2
  vm_tpm "$W/tpm"
  vm_boot_sb "$limit" "${TPM_ARGS[@]}" -fw_cfg name=opt/basalt/nonce,string="$nonce" \
    -fw_cfg name=opt/basalt/sealed,file="$FIX/sealed" "$@"
}
# The attestation document the test init printed, into file $2.
attestation_doc() {
  grep -m1 '^BASALT-TEST attest: ' <<<"$1" | sed 's/^BASALT-TEST attest: //' > "$2"
  [ -s "$2" ] || { echo "FAIL: the VM printed no attestation document"; fail=1; }
}

fail=0
check() {  # $1 text, $2 ERE, $3 what
  if grep -qE -- "$2" <<<"$1"; then echo "ok: $3"; else echo "FAIL: $3 (no /$2/)"; fail=1; fi
}
count() {  # $1 text, $2 ERE
  grep -cE -- "$2" <<<"$1" || true
}
show_console() {  # the lines that matter, for the test log
  grep -E "^basalt|BASALT-TEST|Kernel panic|FAILED|Secure [Bb]oot|Security Violation|Access Denied" <<<"$1" || true
}
status_json() {
  "$BIN/basalt" boot --disk "$W/disk.img" status --json
}
