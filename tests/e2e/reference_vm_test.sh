#!/bin/bash
# Issue #8's scenario on the reference OS (Debian bookworm + systemd + basalt-updated), in QEMU
# (TCG, OVMF, GRUB), against a real nginx on 127.0.0.1: build → publish → update by delta →
# reboot → health → automatic rollback → operator rollback and pin → tamper.
# Every step asserts on what the guest prints on its serial console (BASALT-BOOT once per boot,
# BASALT-STATUS on every state change of basalt-updated) or on the nginx access log.
# Usage: reference_vm_test.sh BUILD_DIR [WORK_DIR]   (root; QEMU; nginx; debootstrap on first use)
#
# E2E_CHECK_WITHOUT=tamper|pin checks the checks: the scenario runs without the byte flip of
# the tamper step, or without the operator's pin (the channel names 2.0.0 instead, so the host
# still gets there), and must then FAIL at that step. Never set in CI; docs/e2e.md has the runs.
set -euo pipefail
BUILD=$(cd "$1" && pwd); BIN=$BUILD/bin
SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=${2:-$(mktemp -d /var/tmp/basalt-e2e-XXXXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)  # nginx takes its paths relative to its prefix, not to here
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
without=${E2E_CHECK_WITHOUT:-}
case $without in '' | tamper | pin) ;; *) fail "E2E_CHECK_WITHOUT must be tamper or pin" ;; esac
[ -z "$without" ] || log "E2E_CHECK_WITHOUT=$without: this run must fail at the $without step"

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
# The tamper step flips a byte of 4.0.0's payload and puts it back. A run that ended in between
# leaves the pristine copy beside it: restore it into a reused repository; drop it otherwise
# (this run published a new payload, signed by a new key, which the old copy must not replace).
if [ $reuse = 1 ] && [ -f "$W/full-4.0.0.good" ]; then
  cp "$W/full-4.0.0.good" "$W/repo/releases/4.0.0/full.payload"
fi
rm -f "$W/full-4.0.0.good"
# signed_sha VERSION: the SHA-256 release.json signs for VERSION's full payload.
signed_sha() {
  python3 -c 'import base64,json,sys
doc = json.loads(base64.b64decode(json.load(open(sys.argv[1]))["payload"]))
print([p["sha256"] for p in doc["payloads"] if p["kind"] == "full"][0])' "$W/repo/releases/$1/release.json"
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
for v in 1.0.0 2.0.0 3.0.0 4.0.0; do
  [ "$(sha_of "$W/repo/releases/$v/full.payload")" = "$(signed_sha $v)" ] ||
    fail "$v's full payload is not the one its release.json signs"
done
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
  boot_status=$(echo "$line" | cut -d' ' -f3-)
  booted_slot=$(echo "$boot_status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("current", "?"))' 2>/dev/null) ||
    fail "unreadable boot status: $line"
  log "booted: image version $booted_version from slot $booted_slot"
}
# booted VERSION SLOT KEY=VALUE...: this boot runs VERSION from SLOT, and the boot status it
# reported has the given fields (ref_expect).
booted() {
  [ "$booted_version" = "$1" ] && [ "$booted_slot" = "$2" ] ||
    fail "expected $1 from slot $2, booted $booted_version from slot $booted_slot"
  local version=$1 slot=$2
  shift 2
  ref_expect "$boot_status" "boot status of $version" current="$slot" "slots.$slot.version=$version" "$@" ||
    fail "the boot status disagrees"
}
# expect_status JSON WHAT KEY=VALUE...: fails the scenario unless the daemon's status has them.
expect_status() { ref_expect "$@" || fail "$2: unexpected status"; }
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
# next_check MARK TIMEOUT: the status that ends the first channel check begun after serial line
# MARK (a "checking" report, then the first idle one with a wait reason), as JSON; sets
# CHECK_END to its line, for the next call. Any report of taking an update (a next version, or
# a download or later state) fails the scenario at once: used where the host must stay.
next_check() {
  local mark=$1 out alive
  for _ in $(seq "$2"); do
    kill -0 "$QEMU_PID" 2>/dev/null && alive=1 || alive=0
    out=$(ref_lines "$serial" "$mark" | python3 -c '
import json, sys
seen = False
for n, line in enumerate(sys.stdin, 1):
    if not line.startswith("BASALT-STATUS "):
        continue
    try:
        d = json.loads(line.split(" ", 1)[1])
    except ValueError:
        continue
    if d.get("next_version") or d.get("state") in (
            "downloading", "applying", "verifying", "finalizing", "updated-need-reboot"):
        print("took", n, json.dumps(d))
        break
    if d.get("state") == "checking":
        seen = True
    elif seen and d.get("state") == "idle" and d.get("wait_reason"):
        print("done", n, json.dumps(d))
        break
')
    case $out in
      took\ *) fail "the host took an update where it must stay: ${out#took * }" ;;
      done\ *)
        out=${out#done }
        CHECK_END=$((mark + ${out%% *}))
        echo "${out#* }"
        return 0
        ;;
    esac
    [ $alive = 1 ] || fail "QEMU exited while waiting for a channel check"
    sleep 1
  done
  fail "no channel check completed within $2 s (last report: $(ref_last_status "$serial" "$mark"))"
}

boot
booted 1.0.0 A "slots.A.state=good"
st=$(status_wait '"last_check":"[0-9].*"wait_reason":"up to date' 240) || fail "basalt-updated never checked the channel"
expect_status "$st" "first check on 1.0.0" state=idle current_version=1.0.0 current_slot=A \
  channel=stable next_version= last_error= rollbacks=0 \
  "wait_reason=up to date: running 1.0.0, which channel stable names"
log "v1 is up; basalt-updated checked the channel: up to date"

# --- 2. Update by delta, reboot, health ---------------------------------------------------
basalt channel set --repo "$W/repo" --channel stable --release 2.0.0 --key "$key" >/dev/null
log "channel stable -> 2.0.0"
st=$(ref_wait_staged "$serial" "$from" 2.0.0 600) || fail "the guest did not stage 2.0.0 and reboot"
expect_status "$st" "2.0.0 staged" current_version=1.0.0 current_slot=A next_version=2.0.0 last_error=
grep -q 'GET /releases/2.0.0/delta-from-1.0.0.payload' "$W/nginx/access.log" ||
  fail "the delta was not fetched (access log: $W/nginx/access.log)"
! grep -q 'GET /releases/2.0.0/full.payload' "$W/nginx/access.log" ||
  fail "the full payload was fetched although the delta applies"
log "the guest fetched the delta (not the full payload), staged slot B and rebooted"
boot
booted 2.0.0 B "slots.A.version=1.0.0" "slots.A.state=good"
st=$(status_wait '"state":"good"' 300) || fail "2.0.0 was not marked good"
grep -a -q "Reached target.*Boot Completion Check" <(ref_lines "$serial" "$from") ||
  fail "marked good without boot-complete.target"
expect_status "$st" "2.0.0 good" state=good current_version=2.0.0 current_slot=B next_version= \
  last_error= downloaded_full_bytes=0 downloaded_delta_bytes="$delta2" rollbacks=0
log "2.0.0 runs from slot B and was marked good after boot-complete.target"

# --- 3. Automatic rollback -------------------------------------------------------------------
basalt channel set --repo "$W/repo" --channel stable --release 3.0.0 --key "$key" >/dev/null
log "channel stable -> 3.0.0 (its health check fails)"
st=$(ref_wait_staged "$serial" "$from" 3.0.0 600) || fail "the guest did not stage 3.0.0 and reboot"
expect_status "$st" "3.0.0 staged" current_version=2.0.0 current_slot=B next_version=3.0.0 last_error=
boot
booted 3.0.0 A "slots.B.version=2.0.0" "slots.B.state=good"
st=$(status_wait '"state":"pending-health"' 300) || fail "3.0.0 is not pending health"
expect_status "$st" "3.0.0 pending" current_version=3.0.0 current_slot=A
ref_wait_exit 400 || fail "basalt-updated did not reboot the unhealthy 3.0.0 (HEALTH_TIMEOUT)"
# (BASALT-BOOT lines carry slot states too; only the daemon's own state counts here.)
! ref_lines "$serial" "$from" | grep -a '^BASALT-STATUS ' | grep -q '"state":"good"' ||
  fail "3.0.0 was marked good"
log "3.0.0 stayed pending (health check failed); basalt-updated rebooted after HEALTH_TIMEOUT"
boot
booted 2.0.0 B "slots.A.version=3.0.0" "slots.B.state=good"
st=$(status_wait '"state":"rolled-back"' 300) || fail "the rollback was not recorded"
expect_status "$st" "rollback recorded" current_version=2.0.0 current_slot=B rollbacks=1 \
  "last_error=version 3.0.0 in slot A did not come up healthy; the bootloader fell back to slot B. 3.0.0 is skipped until the channel offers another version"
# Payload requests only: reading 3.0.0's release.json again is how a check learns what the
# channel offers; downloading it again would be the retry loop.
gets3=$(grep -c 'GET /releases/3.0.0/[^ ]*\.payload' "$W/nginx/access.log" || true)
# The channel still offers 3.0.0: the next checks must say it is skipped, and fetch nothing of it.
skipped3='release 3.0.0 rolled back on this host; it is skipped until the channel offers another version (or `basalt update apply --to 3.0.0` forces it)'
st=$(status_wait '"wait_reason":"release 3.0.0 rolled back on this host' 120) ||
  fail "no check after the rollback reported 3.0.0 as skipped"
expect_status "$st" "first check after the rollback" state=idle current_version=2.0.0 \
  current_slot=B next_version= "wait_reason=$skipped3"
mark=$(wc -l < "$serial")
next_check "$mark" 120 >"$W/check.json"
st=$(cat "$W/check.json")
expect_status "$st" "second check after the rollback" state=idle current_version=2.0.0 \
  current_slot=B next_version= "wait_reason=$skipped3"
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
signed4=$(signed_sha 4.0.0)
[ "$(sha_of "$payload4")" = "$signed4" ] || fail "4.0.0's payload is not the signed one before the tamper"
cp "$payload4" "$W/full-4.0.0.good"
size4=$(stat -c %s "$payload4")
if [ "$without" != tamper ]; then
  # Flip the byte (XOR 0xff), so it differs whatever it was.
  byte=$(od -An -tu1 -j $((size4 / 2)) -N1 "$payload4" | tr -d ' ')
  printf "\\$(printf %03o $((byte ^ 255)))" | dd of="$payload4" bs=1 seek=$((size4 / 2)) conv=notrunc status=none
fi
tampered4=$(sha_of "$payload4")
[ "$without" = tamper ] || [ "$tampered4" != "$signed4" ] || fail "the tamper did not change the payload"
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$key" >/dev/null
mark=$(wc -l < "$serial")
# last_error still holds the rollback's explanation: wait for the refusal itself. Past the hash
# check (applying, or later) the payload was accepted: fail at once.
st=$(ref_wait "$serial" "$mark" '^BASALT-STATUS .*"last_error":"[^"]*SHA-256[^"]*does not match' 300 \
  '^BASALT-STATUS .*"state":"(applying|verifying|finalizing|updated-need-reboot)"' | cut -d' ' -f2-) ||
  fail "the guest did not refuse the tampered payload (last report: $(ref_last_status "$serial" "$mark"))"
expect_status "$st" "tampered payload refused" current_version=2.0.0 current_slot=B \
  "last_error~=^payload [^ ]*releases/4\.0\.0/full\.payload: SHA-256 $tampered4 does not match the signed $signed4\$" \
  "failures.integrity~=^[1-9]"
log "tampered payload refused: $(echo "$st" | field last_error)"
rm -rf "$W/rogue"; basalt keys generate --output "$W/rogue" >/dev/null
rogue=$(ls "$W"/rogue/*.pem | grep -v '\.pub\.pem$')
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$rogue" >/dev/null
mark=$(wc -l < "$serial")
# (A check begun before the channel changed may still download the tampered payload again.)
st=$(ref_wait "$serial" "$mark" '^BASALT-STATUS .*"last_error":"[^"]*is not trusted' 300 \
  '^BASALT-STATUS .*"state":"(applying|verifying|finalizing|updated-need-reboot)"' | cut -d' ' -f2-) ||
  fail "the guest did not report the channel signed by an untrusted key (last report: $(ref_last_status "$serial" "$mark"))"
expect_status "$st" "rogue channel refused" current_version=2.0.0 current_slot=B \
  "last_error~=^channel stable refused \(bad-channel-signature\): .*is not trusted"
log "channel signed by an untrusted key refused: $(echo "$st" | field last_error)"
[ "$(slot_a_sum)" = "$before_a" ] || fail "slot A changed although every update was refused"
log "slot A (inactive) is byte-identical to before both refusals"

# --- 4. Operator rollback and pin ----------------------------------------------------------------
basalt channel rollback --repo "$W/repo" --channel stable --release 1.0.0 --key "$key" >/dev/null
# The channel no longer offers 4.0.0 under a trusted signature: the pristine payload goes back.
cp "$W/full-4.0.0.good" "$payload4"
rm "$W/full-4.0.0.good"
[ "$(sha_of "$payload4")" = "$signed4" ] || fail "4.0.0's payload was not restored"
log "channel stable rolled back to 1.0.0 (signed downgrade)"
st=$(ref_wait_staged "$serial" "$from" 1.0.0 900) || fail "the guest did not stage the downgrade to 1.0.0 and reboot"
expect_status "$st" "1.0.0 staged" current_version=2.0.0 current_slot=B next_version=1.0.0
boot
booted 1.0.0 A "slots.B.version=2.0.0" "slots.B.state=good"
st=$(status_wait '"state":"good"' 300) || fail "1.0.0 was not marked good after the downgrade"
expect_status "$st" "1.0.0 good" state=good current_version=1.0.0 current_slot=A next_version=
log "back on 1.0.0 in slot A, marked good"
# The operator pins this host: power it off, write /etc/basalt/update.conf on ROOT, boot.
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true
root_part=$(part_range ROOT)
if [ "$without" = pin ]; then
  # The check of the check: no pin; the channel takes the host to 2.0.0 instead, so the run
  # reaches the end of the step, where the move to 4.0.0 must then be caught.
  printf '# no pin (E2E_CHECK_WITHOUT=pin)\n' > "$W/pin.conf"
  basalt channel set --repo "$W/repo" --channel stable --release 2.0.0 --key "$key" >/dev/null
else
  printf 'PIN=2.0.0\n' > "$W/pin.conf"
fi
loopdev=$(losetup -f --show -o "${root_part% *}" --sizelimit "${root_part#* }" "$W/disk.img")
e2fsck -fy "$loopdev" >/dev/null 2>&1 || true
debugfs -w -R "write $W/pin.conf /etc/basalt/update.conf" "$loopdev" >/dev/null 2>&1
[ "$(debugfs -R "cat /etc/basalt/update.conf" "$loopdev" 2>/dev/null)" = "$(cat "$W/pin.conf")" ] ||
  { losetup -d "$loopdev"; fail "could not write PIN into ROOT"; }
losetup -d "$loopdev"
log "$(head -1 "$W/pin.conf") written to /etc/basalt/update.conf"
boot
booted 1.0.0 A
st=$(ref_wait_staged "$serial" "$from" 2.0.0 600) || fail "the pinned host did not move to 2.0.0 and reboot"
expect_status "$st" "pinned 2.0.0 staged" current_version=1.0.0 current_slot=A next_version=2.0.0
boot
booted 2.0.0 B "slots.A.version=1.0.0" "slots.A.state=good"
st=$(status_wait '"state":"good"' 300) || fail "the pinned 2.0.0 was not marked good"
expect_status "$st" "pinned 2.0.0 good" state=good current_version=2.0.0 current_slot=B next_version=
access_mark=$(wc -l < "$W/nginx/access.log")
basalt channel set --repo "$W/repo" --channel stable --release 4.0.0 --key "$key" >/dev/null
pinned='this host is pinned to 2.0.0, which it runs'
# Two checks of the moved channel, one after the other. Each must end idle, with the pin as the
# reason; any sign of taking 4.0.0 fails at once.
CHECK_END=$(wc -l < "$serial")
for n in 1 2; do
  next_check "$CHECK_END" 120 >"$W/check.json"
  st=$(cat "$W/check.json")
  expect_status "$st" "check $n of the moved channel" state=idle current_version=2.0.0 \
    current_slot=B next_version= last_error= "wait_reason=$pinned"
done
[ "$(tail -n +"$((access_mark + 1))" "$W/nginx/access.log" | grep -c 'GET /channels/stable')" -ge 2 ] ||
  fail "the pinned host did not read the moved channel twice"
! tail -n +"$((access_mark + 1))" "$W/nginx/access.log" | grep -q 'GET /releases/4.0.0/.*payload' ||
  fail "the pinned host downloaded 4.0.0"
log "pinned at 2.0.0: the channel moved to 4.0.0 and the host stayed"

log "PASS ($(($(date +%s) - t0)) s)"
