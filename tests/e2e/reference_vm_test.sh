#!/bin/bash
# Issue #8's scenario on the reference OS (Debian bookworm + systemd + basalt-updated), in QEMU
# (TCG, OVMF, GRUB), against a real nginx on 127.0.0.1: build → publish → update by delta →
# reboot → health → automatic rollback → operator rollback and pin → tamper.
# Every step asserts on what the guest prints on its serial console (BASALT-BOOT once per boot,
# BASALT-STATUS on every state change of basalt-updated) or on the nginx access log.
# Usage: reference_vm_test.sh BUILD_DIR [WORK_DIR]   (root; QEMU; nginx; debootstrap on first use)
set -euo pipefail
BUILD=$(cd "$1" && pwd); BIN=$BUILD/bin
SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=${2:-$(mktemp -d /var/tmp/basalt-e2e-XXXXXX)}
mkdir -p "$W"
. "$SRC/tests/e2e/reference_lib.sh"

for tool in qemu-system-x86_64 nginx socat debootstrap veritysetup; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (build/install-deps.sh)"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: OVMF is not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (debootstrap, loop devices)"; exit 77; }

t0=$(date +%s)
log() { echo "[$(($(date +%s) - t0))s] $*"; }
basalt() { "$BIN/basalt" "$@"; }
serial=$W/serial.log
cleanup() {
  [ -n "${QEMU_PID:-}" ] && kill "$QEMU_PID" 2>/dev/null
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
  true
}
trap cleanup EXIT
# A signal (Ctrl-C, a ctest timeout) still takes QEMU and nginx down through the EXIT trap.
trap "exit 143" INT TERM
fail() { echo "FAIL: $*" >&2; echo "serial log: $serial" >&2; exit 1; }
# Any other command that fails (set -e) names itself instead of ending the scenario silently.
trap 'fail "line $LINENO: $BASH_COMMAND exited $?"' ERR

# --- 1. Set-up -------------------------------------------------------------------------------
trees=$(ref_trees)
# E2E_REUSE=1 (development only): keep WORK_DIR's keys, images and repository from the last run,
# to iterate on the VM steps without rebuilding. CI always starts from nothing.
if [ "${E2E_REUSE:-0}" = 1 ] && [ -f "$W/repo/releases/4.0.0/release.json" ]; then
  reuse=1
else
  reuse=0
  rm -rf "$W/keys" "$W/trusted" "$W/repo" "$W"/img-*
  basalt keys generate --output "$W/keys" >/dev/null
fi
key=$(ls "$W"/keys/*.pem | grep -v '\.pub\.pem$')
mkdir -p "$W/trusted"; cp "$W"/keys/*.pub.pem "$W/trusted/"
cat > "$W/update.conf" <<CONF
SERVER=http://10.0.2.100/
CHANNEL=stable
REBOOT_STRATEGY=reboot
CHECK_INTERVAL=15s
HEALTH_TIMEOUT=60s
BOOT_TRIES=1
CONF
build_image() {  # VERSION [extra tree hook]
  local v=$1
  ref_tree "$trees" "$v" "$W/tree-$v" "$W/trusted" "$W/update.conf"
  [ $# -gt 1 ] && "$2" "$W/tree-$v"
  rm -rf "$W/img-$v"
  basalt image build --rootfs "$W/tree-$v" --output "$W/img-$v" \
    --definition "$SRC/image/reference/definition.toml" --version "$v" --seed "ref-$v" \
    --source-date-epoch 1700000000 >"$W/build-$v.log" 2>&1
  rm -rf "$W/tree-$v"
}
# v3's /usr carries a health check that always fails (enabled from /usr, because /etc lives on
# ROOT, which an update never touches).
break_health() {
  cat > "$1/usr/lib/systemd/system/e2e-broken-health.service" <<'UNIT'
[Unit]
Description=A health check that fails (the broken release of the e2e scenario)
DefaultDependencies=no
Before=boot-complete.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "e2e: this release is broken" >&2; exit 1'
UNIT
  mkdir -p "$1/usr/lib/systemd/system/boot-complete.target.requires"
  ln -s ../e2e-broken-health.service "$1/usr/lib/systemd/system/boot-complete.target.requires/"
}
if [ $reuse = 0 ]; then
build_image 1.0.0
build_image 2.0.0
build_image 3.0.0 break_health
build_image 4.0.0
log "built v1..v4 ($(du -h --apparent-size "$W/img-1.0.0/usr.img" | cut -f1) usr.img each)"

basalt release publish --repo "$W/repo" --image-dir "$W/img-1.0.0" --key "$key" >/dev/null
basalt release publish --repo "$W/repo" --image-dir "$W/img-2.0.0" --delta-from "$W/img-1.0.0" \
  --key "$key" >/dev/null
# 3.0.0 and 4.0.0 ship full payloads only: hosts on a version without a delta take the full one.
basalt release publish --repo "$W/repo" --image-dir "$W/img-3.0.0" --key "$key" >/dev/null
basalt release publish --repo "$W/repo" --image-dir "$W/img-4.0.0" --key "$key" >/dev/null
fi
[ -f "$W/full-4.0.0.good" ] && cp "$W/full-4.0.0.good" "$W/repo/releases/4.0.0/full.payload"
full2=$(stat -c %s "$W/repo/releases/2.0.0/full.payload")
delta2=$(stat -c %s "$W/repo/releases/2.0.0/delta-from-1.0.0.payload")
log "published 1.0.0..4.0.0; 2.0.0: full $full2 B, delta from 1.0.0 $delta2 B"
# The real kernel bump and recompiled modules must use the operations made for them, so the
# guest below proves it can apply them (minor version 3).
ops2=$(basalt payload inspect "$W/repo/releases/2.0.0/delta-from-1.0.0.payload" --json |
  python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["header"]["minor_version"], *sorted(j["partitions"][0]["operations"]))')
log "delta 1.0.0 -> 2.0.0: minor version and operation types: $ops2"
case " $ops2 " in *" SOURCE_LZ4_PATCH "*) ;; *) fail "the delta has no SOURCE_LZ4_PATCH for the kernel";; esac
case " $ops2 " in *" SOURCE_BSDIFF_XZ "*) ;; *) fail "the delta has no SOURCE_BSDIFF_XZ for the recompiled modules";; esac
rm -rf "$W/repo/channels"  # a reused repository's channel points past 1.0.0
basalt channel set --repo "$W/repo" --channel stable --release 1.0.0 --key "$key" >/dev/null

mkdir -p "$W/nginx"; : > "$W/nginx/access.log"
ref_nginx_start "$W/repo" "$W/nginx"
cp --sparse=always "$W/img-1.0.0/disk.img" "$W/disk.img"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
: > "$serial"

# boot EXPECTED_VERSION EXPECTED_SLOT: starts the VM and checks what booted.
boot() {
  from=$(wc -l < "$serial")
  ref_vm_start "$W/disk.img" "$W/vars.fd" "$serial" "$NGINX_PORT"
  line=$(ref_wait "$serial" "$from" '^BASALT-BOOT ' 300) || fail "no BASALT-BOOT line"
  booted_version=$(echo "$line" | cut -d' ' -f2)
  booted_slot=$(echo "$line" | cut -d' ' -f3- | python3 -c 'import json,sys; print(json.load(sys.stdin).get("current", "?"))' 2>/dev/null) ||
    fail "unreadable boot status: $line"
  log "booted: image version $booted_version from slot $booted_slot"
}
# status_wait REGEX TIMEOUT: the next BASALT-STATUS JSON matching REGEX (after this boot began).
status_wait() {
  ref_wait "$serial" "$from" "^BASALT-STATUS .*$1" "$2" | cut -d' ' -f2-
}
# part_range LABEL: "OFFSET SIZE" in bytes of the disk's partition with that GPT name.
part_range() {
  sfdisk --json "$W/disk.img" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]: print(p["start"] * 512, p["size"] * 512)' "$1"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

boot
[ "$booted_version" = 1.0.0 ] && [ "$booted_slot" = A ] || fail "v1 did not boot from slot A"
st=$(status_wait '"last_check":"[0-9]' 240) || fail "basalt-updated never checked the channel"
log "v1 is up; basalt-updated checked the channel: state $(echo "$st" | field state)"

# --- 2. Update by delta, reboot, health ---------------------------------------------------
basalt channel set --repo "$W/repo" --channel stable --release 2.0.0 --key "$key" >/dev/null
log "channel stable -> 2.0.0"
ref_wait_staged "$serial" "$from" 2.0.0 600 >/dev/null || fail "the guest did not stage 2.0.0 and reboot"
grep -q 'GET /releases/2.0.0/delta-from-1.0.0.payload' "$W/nginx/access.log" ||
  fail "the delta was not fetched (access log: $W/nginx/access.log)"
! grep -q 'GET /releases/2.0.0/full.payload' "$W/nginx/access.log" ||
  fail "the full payload was fetched although the delta applies"
log "the guest fetched the delta (not the full payload), staged slot B and rebooted"
boot
[ "$booted_version" = 2.0.0 ] && [ "$booted_slot" = B ] || fail "2.0.0 did not boot from slot B"
st=$(status_wait '"state":"good"' 300) || fail "2.0.0 was not marked good"
grep -a -q "Reached target.*Boot Completion Check" <(tr -d '\r\000' < "$serial" | tail -n +"$from") ||
  fail "marked good without boot-complete.target"
[ "$(echo "$st" | field current_version)" = 2.0.0 ] || fail "status does not report 2.0.0: $st"
[ "$(echo "$st" | field downloaded_full_bytes)" = 0 ] && [ "$(echo "$st" | field downloaded_delta_bytes)" = "$delta2" ] ||
  fail "status counters disagree with a delta-only update: $st"
log "2.0.0 runs from slot B and was marked good after boot-complete.target"

# --- 3. Automatic rollback -------------------------------------------------------------------
basalt channel set --repo "$W/repo" --channel stable --release 3.0.0 --key "$key" >/dev/null
log "channel stable -> 3.0.0 (its health check fails)"
ref_wait_staged "$serial" "$from" 3.0.0 600 >/dev/null || fail "the guest did not stage 3.0.0 and reboot"
boot
[ "$booted_version" = 3.0.0 ] && [ "$booted_slot" = A ] || fail "3.0.0 did not boot from slot A"
status_wait '"state":"pending-health"' 300 >/dev/null || fail "3.0.0 is not pending health"
ref_wait_exit 400 || fail "basalt-updated did not reboot the unhealthy 3.0.0 (HEALTH_TIMEOUT)"
# (BASALT-BOOT lines carry slot states too; only the daemon's own state counts here.)
! tail -n +"$from" "$serial" | tr -d '\r\000' | sed 's/.*BASALT-/BASALT-/' |
  grep -a '^BASALT-STATUS ' | grep -q '"state":"good"' || fail "3.0.0 was marked good"
log "3.0.0 stayed pending (health check failed); basalt-updated rebooted after HEALTH_TIMEOUT"
boot
[ "$booted_version" = 2.0.0 ] && [ "$booted_slot" = B ] || fail "the bootloader did not fall back to 2.0.0"
st=$(status_wait '"state":"rolled-back"' 300) || fail "the rollback was not recorded"
[ "$(echo "$st" | field rollbacks)" = 1 ] || fail "status does not count the rollback: $st"
# Payload requests only: reading 3.0.0's release.json again is how a check learns what the
# channel offers; downloading it again would be the retry loop.
gets3=$(grep -c 'GET /releases/3.0.0/[^ ]*\.payload' "$W/nginx/access.log" || true)
# The channel still offers 3.0.0: the next checks must say it is skipped, and fetch nothing of it.
st=$(status_wait '"wait_reason":"release 3.0.0 rolled back on this host' 120) ||
  fail "no check after the rollback reported 3.0.0 as skipped"
mark=$(wc -l < "$serial")
ref_wait "$serial" "$mark" '^BASALT-STATUS .*"wait_reason":"release 3.0.0 rolled back' 120 >/dev/null ||
  fail "no second check after the rollback"
[ "$(grep -c 'GET /releases/3.0.0/[^ ]*\.payload' "$W/nginx/access.log" || true)" = "$gets3" ] ||
  fail "the host downloaded 3.0.0 again after rolling back from it"
log "fell back to 2.0.0 in slot B; status shows the rollback and 3.0.0 is not retried"

# --- 5. Tamper (before the operator rollback, while the host is on 2.0.0) ----------------------
usr_a=$(part_range USR-A)
slot_a_sum() {
  set -- $usr_a
  dd if="$W/disk.img" bs=1M iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none | sha256sum
}
before_a=$(slot_a_sum)
payload4=$W/repo/releases/4.0.0/full.payload
cp "$payload4" "$W/full-4.0.0.good"
size4=$(stat -c %s "$payload4")
printf '\xff' | dd of="$payload4" bs=1 seek=$((size4 / 2)) conv=notrunc status=none
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$key" >/dev/null
mark=$(wc -l < "$serial")
# last_error still holds the rollback's explanation: wait for the refusal itself.
st=$(ref_wait "$serial" "$mark" '^BASALT-STATUS .*"last_error":"[^"]*SHA-256[^"]*does not match' 300 | cut -d' ' -f2-) ||
  fail "the guest did not report the tampered payload (last report: $(ref_last_status "$serial" "$mark"))"
err=$(echo "$st" | field last_error)
echo "$err" | grep -qi 'sha-\?256\|hash\|digest\|integrity' || fail "unclear refusal: $err"
log "tampered payload refused: $err"
rm -rf "$W/rogue"; basalt keys generate --output "$W/rogue" >/dev/null
rogue=$(ls "$W"/rogue/*.pem | grep -v '\.pub\.pem$')
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$rogue" >/dev/null
mark=$(wc -l < "$serial")
st=$(ref_wait "$serial" "$mark" '^BASALT-STATUS .*"last_error":"[^"]*is not trusted' 300 | cut -d' ' -f2-) ||
  fail "the guest did not report the channel signed by an untrusted key (last report: $(ref_last_status "$serial" "$mark"))"
log "channel signed by an untrusted key refused: $(echo "$st" | field last_error)"
[ "$(slot_a_sum)" = "$before_a" ] || fail "slot A changed although every update was refused"
log "slot A (inactive) is byte-identical to before both refusals"

# --- 4. Operator rollback and pin ----------------------------------------------------------------
basalt channel rollback --repo "$W/repo" --channel stable --release 1.0.0 --key "$key" >/dev/null
cp "$W/full-4.0.0.good" "$payload4"
log "channel stable rolled back to 1.0.0 (signed downgrade)"
ref_wait_staged "$serial" "$from" 1.0.0 900 >/dev/null || fail "the guest did not stage the downgrade to 1.0.0 and reboot"
boot
[ "$booted_version" = 1.0.0 ] && [ "$booted_slot" = A ] || fail "1.0.0 did not boot from slot A"
status_wait '"state":"good"' 300 >/dev/null || fail "1.0.0 was not marked good after the downgrade"
log "back on 1.0.0 in slot A, marked good"
# The operator pins this host: power it off, write /etc/basalt/update.conf on ROOT, boot.
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true
root_part=$(part_range ROOT)
printf 'PIN=2.0.0\n' > "$W/pin.conf"
loopdev=$(losetup -f --show -o "${root_part% *}" --sizelimit "${root_part#* }" "$W/disk.img")
e2fsck -fy "$loopdev" >/dev/null 2>&1 || true
debugfs -w -R "write $W/pin.conf /etc/basalt/update.conf" "$loopdev" >/dev/null 2>&1
debugfs -R "cat /etc/basalt/update.conf" "$loopdev" 2>/dev/null | grep -q '^PIN=2.0.0$' ||
  { losetup -d "$loopdev"; fail "could not write PIN into ROOT"; }
losetup -d "$loopdev"
log "PIN=2.0.0 written to /etc/basalt/update.conf"
boot
[ "$booted_version" = 1.0.0 ] || fail "expected 1.0.0 before the pin applies"
ref_wait_staged "$serial" "$from" 2.0.0 600 >/dev/null || fail "the pinned host did not move to 2.0.0 and reboot"
boot
[ "$booted_version" = 2.0.0 ] && [ "$booted_slot" = B ] || fail "the pinned 2.0.0 did not boot from B"
status_wait '"state":"good"' 300 >/dev/null || fail "the pinned 2.0.0 was not marked good"
access_mark=$(wc -l < "$W/nginx/access.log")
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$key" >/dev/null
for _ in 1 2; do  # two checks of the moved channel
  mark=$(wc -l < "$serial")
  ref_wait "$serial" "$mark" '^BASALT-STATUS .*"state":"checking"' 120 >/dev/null ||
    fail "no check after the channel moved to 4.0.0"
  sleep 2
done
tail -n +"$((access_mark + 1))" "$W/nginx/access.log" | grep -q 'GET /channels/' ||
  fail "the pinned host did not read the moved channel"
! tail -n +"$((access_mark + 1))" "$W/nginx/access.log" | grep -q 'GET /releases/4.0.0/.*payload' ||
  fail "the pinned host downloaded 4.0.0"
st=$(tail -n +"$from" "$serial" | tr -d '\r\000' | grep -a '^BASALT-STATUS ' | tail -1 | cut -d' ' -f2-)
[ "$(echo "$st" | field state)" != downloading ] || fail "the pinned host is downloading: $st"
log "pinned at 2.0.0: the channel moved to 4.0.0 and the host stayed"

log "PASS ($(($(date +%s) - t0)) s)"
