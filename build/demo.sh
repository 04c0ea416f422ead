#!/usr/bin/env bash
# The README's main job: Basalt doing its job, from a fresh Debian bookworm machine (as root).
# It installs what it needs, builds Basalt, builds v1 and v2 of the reference OS (Debian bookworm
# with systemd and basalt-updated, image/reference/), signs and publishes them with a delta,
# serves the repository with nginx on 127.0.0.1, boots v1 in QEMU, and watches the host update
# itself to v2 through the delta, reboot into the other slot and come back healthy. It prints a
# short story; on failure it says which step failed and where the logs are.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
W=${BASALT_DEMO_DIR:-/var/tmp/basalt-demo}
log=$W/demo.log
serial=$W/serial.log
rm -rf "$W"
mkdir -p "$W"
: >"$log"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
current="starting"
fail() {
  printf '\n\033[31mdemo failed during: %s\033[0m\n   log: %s\n   guest serial console: %s\n' \
    "$current" "$log" "$serial" >&2
  tail -n 15 "$log" | cut -c1-300 | sed 's/^/   | /' >&2
  exit 1
}
trap fail ERR
cleanup() {
  [ -n "${QEMU_PID:-}" ] && kill "$QEMU_PID" 2>/dev/null
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
  true
}
trap cleanup EXIT
# A signal (Ctrl-C, a ctest timeout) still takes QEMU and nginx down through the EXIT trap.
trap "exit 143" INT TERM
run() { "$@" >>"$log" 2>&1; }
now() { date +%s; }
since() { echo "$(($(now) - $1)) s"; }
size() { numfmt --to=iec --suffix=B "$(stat -c %s "$1")"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (debootstrap, loop devices, nginx)" >&2; exit 1; }

current="installing dependencies"
step "1. Install dependencies (build/install-deps.sh)"
run ./build/install-deps.sh
say "Debian bookworm packages present"

current="building Basalt"
step "2. Build Basalt"
t=$(now)
run cmake --preset default
run cmake --build --preset default -j "$(nproc)" --target basalt basalt-init basalt-updated
BUILD=$SRC/out/default
BIN=$BUILD/bin
basalt() { "$BIN/basalt" "$@"; }
say "built basalt, basalt-init and basalt-updated in $(since "$t")"
. "$SRC/tests/e2e/reference_lib.sh"

current="making the reference OS trees (debootstrap)"
step "3. The reference OS: Debian bookworm + systemd + basalt-updated"
t=$(now)
trees=$(ref_trees 2>>"$log")
say "v1 = bookworm point release, v2 = v1 + its security updates ($(since "$t"); cached)"
run basalt keys generate --output "$W/keys"
key=$(ls "$W"/keys/*.pem | grep -v '\.pub\.pem$')
mkdir -p "$W/trusted"
cp "$W"/keys/*.pub.pem "$W/trusted/"
cat >"$W/update.conf" <<CONF
SERVER=http://10.0.2.100/
CHANNEL=stable
REBOOT_STRATEGY=reboot
CHECK_INTERVAL=15s
CONF
say "release key $(basename "$key" .pem | cut -c1-16)… (Ed25519); hosts trust it from /usr"

current="building the images"
step "4. basalt image build: A/B GPT disk, erofs /usr with dm-verity, GRUB"
for v in 1.0.0 2.0.0; do
  t=$(now)
  ref_tree "$trees" "$v" "$W/tree-$v" "$W/trusted" "$W/update.conf" >>"$log" 2>&1
  run basalt image build --rootfs "$W/tree-$v" --output "$W/image-$v" \
    --definition image/reference/definition.toml --version "$v" --seed "demo-$v" \
    --source-date-epoch 1700000000
  rm -rf "$W/tree-$v"
  say "v$v: usr.img $(size "$W/image-$v/usr.img") (verity root $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usr"]["root_hash"][:16])' "$W/image-$v/image.json")…) in $(since "$t")"
done
changed=$(diff <(tar -C "$trees/v1" -c usr 2>/dev/null | tar -t | sort) \
  <(tar -C "$trees/v2" -c usr 2>/dev/null | tar -t | sort) | grep -c '^[<>]' || true)
say "v2 brings a new kernel and package upgrades ($changed paths added or removed in /usr)"

current="signing and publishing"
step "5. Sign and publish to a static repository"
repo=$W/repo
run basalt release publish --repo "$repo" --image-dir "$W/image-1.0.0" --key "$key"
t=$(now)
run basalt release publish --repo "$repo" --image-dir "$W/image-2.0.0" --delta-from "$W/image-1.0.0" \
  --key "$key"
full=$repo/releases/2.0.0/full.payload
delta=$repo/releases/2.0.0/delta-from-1.0.0.payload
say "published 2.0.0 in $(since "$t"): full payload $(size "$full"), delta from 1.0.0 $(size "$delta")" \
  "($((100 * $(stat -c %s "$delta") / $(stat -c %s "$full")))% of the full)"
run basalt channel set --repo "$repo" --channel stable --release 1.0.0 --key "$key"
run basalt repo verify --repo "$repo" --keys "$W/trusted"
mkdir -p "$W/nginx"
ref_nginx_start "$repo" "$W/nginx" >>"$log" 2>&1
say "channel stable -> 1.0.0; nginx serves the repository on 127.0.0.1:$NGINX_PORT"

current="booting v1 in QEMU"
step "6. Boot v1 in QEMU (TCG, OVMF, GRUB); the guest sees the repository at http://10.0.2.100/"
cp --sparse=always "$W/image-1.0.0/disk.img" "$W/disk.img"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
: >"$serial"
boot() {
  from=$(wc -l <"$serial")
  t=$(now)
  ref_vm_start "$W/disk.img" "$W/vars.fd" "$serial" "$NGINX_PORT"
  line=$(ref_wait "$serial" "$from" '^BASALT-BOOT ' 400)
  booted_version=$(echo "$line" | cut -d' ' -f2)
  booted_json=$(echo "$line" | cut -d' ' -f3-)
  booted_slot=$(echo "$booted_json" | field current)
  say "booted in $(since "$t"): /usr/lib/os-release says $booted_version, slot $booted_slot"
}
boot
[ "$booted_version" = 1.0.0 ]
ref_wait "$serial" "$from" '^BASALT-STATUS .*"last_check":"[0-9]' 300 >/dev/null
say "basalt-updated is running under systemd and has checked the channel: nothing to do"

current="updating the host to v2"
step "7. basalt channel set stable 2.0.0: the host updates itself"
run basalt channel set --repo "$repo" --channel stable --release 2.0.0 --key "$key"
t=$(now)
seen=""
mark=$from
while :; do
  if ! line=$(ref_wait "$serial" "$mark" '^BASALT-STATUS ' 900 2>>"$log"); then
    # The reboot can outrun the guest's last report (see ref_wait_staged in reference_lib.sh);
    # the next boot shows what was staged.
    if ! kill -0 "$QEMU_PID" 2>/dev/null && [ "$seen" = finalizing ]; then
      say "[$(since "$t")] staged 2.0.0; the guest rebooted (REBOOT_STRATEGY=reboot)"
      break
    fi
    false
  fi
  mark=$(grep -a -n -F -- "$line" "$serial" | tail -1 | cut -d: -f1)
  st=$(echo "$line" | cut -d' ' -f2-)
  state=$(echo "$st" | field state)
  if [ "$state" != "$seen" ]; then
    case $state in
      downloading) say "[$(since "$t")] downloading from http://10.0.2.100/ (Range requests, resumable)" ;;
      applying) say "[$(since "$t")] applying into the inactive slot: signature, each blob and source extent verified before it is written" ;;
      verifying) say "[$(since "$t")] verifying: verity tree rebuilt, root hash and SHA-256 compared with the signed manifest" ;;
      finalizing) say "[$(since "$t")] finalizing: kernel and initramfs from the verified slot to the ESP, boot entry, next boot = new slot" ;;
      updated-need-reboot) say "[$(since "$t")] staged 2.0.0; rebooting (REBOOT_STRATEGY=reboot)"; break ;;
      *) wr=$(echo "$st" | field wait_reason); say "[$(since "$t")] $state${wr:+: $wr}" ;;
    esac
    seen=$state
  fi
  [ -z "$(echo "$st" | field last_error)" ] || { say "error: $(echo "$st" | field last_error)"; false; }
done
ref_wait_exit 180
grep -q 'GET /releases/2.0.0/delta-from-1.0.0.payload' "$W/nginx/access.log"
! grep -q 'GET /releases/2.0.0/full.payload' "$W/nginx/access.log"
say "nginx access log: the host fetched only the delta ($(size "$delta")), never the full payload"

current="booting v2"
step "8. The host comes back on v2 from the other slot and proves itself healthy"
boot
[ "$booted_version" = 2.0.0 ]
# The boot status printed at start-up is the bootloader's view before any health check ran (the
# daemon may mark the slot good before the reporter's first line, so its state is not awaited).
pending=$(echo "$booted_json" | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["slots"][d["current"]]; print(s["state"], s["tries"])')
[ "${pending% *}" = pending ]
say "GRUB started slot $booted_slot as pending with ${pending#* } tries left: unless this boot is" \
  "marked good, the tries run out and it falls back to v1"
st=$(ref_wait "$serial" "$from" '^BASALT-STATUS .*"state":"good"' 300 | cut -d' ' -f2-)
say "boot-complete.target reached (health checks passed); slot $booted_slot marked good"
say "the host's own count: $(echo "$st" | field downloaded_delta_bytes) bytes of delta and" \
  "$(echo "$st" | field downloaded_full_bytes) bytes of full payload downloaded"

step "Done"
say "Built, signed, published, served, downloaded as a delta, verified before every write,"
say "rebooted into the other slot and marked good after its health checks. Logs: $log, $serial"
