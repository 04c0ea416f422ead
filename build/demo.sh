#!/usr/bin/env bash
# The README's main job: shows Basalt doing its job on real data, from a fresh Debian bookworm
# machine. It installs what it needs, builds Basalt, builds two versions of a small OS image
# around Debian's cloud kernel, signs and publishes them with a delta, lets a host decide what to
# do, applies the delta verify-before-write into the other slot, and shows a tampered payload
# being refused. It prints a short story; on failure it says which step failed and where the
# log is. Finally it runs the host's update flow (basalt-updated's offline mode) on the v1 disk.
# (Booting the result in QEMU under systemd is the end-to-end scenario still to come; see docs/.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${BASALT_DEMO_DIR:-/var/tmp/basalt-demo}
log=$work/demo.log
rm -rf "$work"
mkdir -p "$work"
: >"$log"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
current="starting"
fail() {
  printf '\n\033[31mdemo failed during: %s\033[0m\n   full log: %s\n' "$current" "$log" >&2
  tail -n 15 "$log" | cut -c1-300 | sed 's/^/   | /' >&2
  exit 1
}
trap fail ERR
run() { "$@" >>"$log" 2>&1; }
now() { date +%s%N; }
since() { echo "$(( ($(now) - $1) / 1000000 )) ms"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
size() { numfmt --to=iec --suffix=B "$(stat -c %s "$1")"; }

current="installing dependencies"
step "1. Install dependencies (build/install-deps.sh)"
run ./build/install-deps.sh
say "Debian bookworm packages present"

current="building Basalt"
step "2. Build Basalt"
t=$(now)
run cmake --preset default
run cmake --build --preset default -j "$(nproc)" --target basalt basalt-init
basalt=$root/out/default/bin/basalt
say "built $basalt in $(since "$t")"

current="preparing two OS trees"
step "3. Two versions of a small OS: busybox + Debian's cloud kernel"
kernel_tree=$(./tests/fixtures/fetch-kernel.sh)
kver=$(ls "$kernel_tree/lib/modules")
for v in 1.0.0 2.0.0; do
  t=$work/tree-$v
  mkdir -p "$t/usr/bin" "$t/usr/lib/modules" "$t/etc" "$t/var/lib" "$t/boot"
  cp /bin/busybox "$t/usr/bin/busybox"
  cp -a "$kernel_tree/lib/modules/$kver" "$t/usr/lib/modules/"
  cp "$kernel_tree/boot/vmlinuz-$kver" "$t/boot/"
  ln -s usr/bin "$t/bin"
  printf 'NAME="Basalt demo"\nVERSION_ID=%s\n' "$v" >"$t/usr/lib/os-release"
  echo "demo-host" >"$t/etc/hostname"
done
# What a real update looks like: a changed file, a new tool, a patched library-sized binary.
printf 'export PS1="v2> "\n' >"$work/tree-2.0.0/usr/bin/profile"
printf '\x90' | dd of="$work/tree-2.0.0/usr/bin/busybox" bs=1 seek=4096 conv=notrunc status=none
say "kernel $kver; v2 changes os-release, patches busybox, adds a file"

current="building the images"
step "4. basalt image build: A/B GPT disk, erofs /usr with dm-verity, reproducible"
for v in 1.0.0 2.0.0; do
  t=$(now)
  run "$basalt" image build --rootfs "$work/tree-$v" --output "$work/image-$v" --version "$v" \
    --seed "demo-$v" --source-date-epoch 1700000000 --usr-size 128MiB --root-size 64MiB \
    --esp-size 96MiB --oem-size 16MiB
  say "v$v: disk.img $(size "$work/image-$v/disk.img"), usr.img $(size "$work/image-$v/usr.img"), in $(since "$t")"
done
run sfdisk --json "$work/image-1.0.0/disk.img"
say "partitions (sfdisk): $(sfdisk --json "$work/image-1.0.0/disk.img" | python3 -c 'import json,sys; print(", ".join(p["name"] for p in json.load(sys.stdin)["partitiontable"]["partitions"]))')"
rh1=$(json "$work/image-1.0.0/image.json" 'd["usr"]["root_hash"]')
ho1=$(json "$work/image-1.0.0/image.json" 'd["usr"]["hash_offset"]')
run veritysetup verify "$work/image-1.0.0/usr.img" "$work/image-1.0.0/usr.img" "$rh1" --hash-offset="$ho1"
say "veritysetup verify accepts usr.img with image.json's root hash ${rh1:0:16}…"
run "$basalt" image build --rootfs "$work/tree-1.0.0" --output "$work/image-1.0.0-again" --version 1.0.0 \
  --seed demo-1.0.0 --source-date-epoch 1700000000 --usr-size 128MiB --root-size 64MiB \
  --esp-size 96MiB --oem-size 16MiB
cmp -s "$work/image-1.0.0/disk.img" "$work/image-1.0.0-again/disk.img"
say "a second build of v1 is byte-identical (disk.img)"

current="signing and publishing"
step "5. Sign and publish to a static repository (any HTTP server, CDN or directory)"
run "$basalt" keys generate --output "$work/keys"
key=$(ls "$work"/keys/*.pem | grep -v '\.pub\.pem$')
mkdir -p "$work/trusted"
cp "$work"/keys/*.pub.pem "$work/trusted/"
say "release key $(basename "$key" .pem | cut -c1-16)… (Ed25519)"
repo=$work/repo
run "$basalt" release publish --repo "$repo" --image-dir "$work/image-1.0.0" --key "$key"
t=$(now)
run "$basalt" release publish --repo "$repo" --image-dir "$work/image-2.0.0" --delta-from "$work/image-1.0.0" --key "$key"
say "published 2.0.0 in $(since "$t"): full $(size "$repo/releases/2.0.0/full.payload"), delta from 1.0.0 $(size "$repo/releases/2.0.0/delta-from-1.0.0.payload")"
run "$basalt" channel set --repo "$repo" --channel stable --release 1.0.0 --key "$key"
run "$basalt" channel set --repo "$repo" --channel stable --release 2.0.0 --key "$key"
run "$basalt" repo verify --repo "$repo" --keys "$work/trusted"
say "channel stable -> 2.0.0; basalt repo verify: every signature, hash and reference checks out"

current="deciding on the host side"
step "6. What a host on 1.0.0 decides (signatures, expiry, rollout, pin, floor)"
"$basalt" channel show --repo "$repo" --channel stable --keys "$work/trusted" \
  --host-version 1.0.0 --machine-id demo-machine | sed 's/^/   /'

current="applying the delta"
step "7. Apply the delta into the inactive slot: verify before every write"
cp "$work/image-1.0.0/usr.img" "$work/slot-a.img"
truncate -s "$(stat -c %s "$work/image-1.0.0/usr.img")" "$work/slot-b.img"
t=$(now)
run "$basalt" payload apply "$repo/releases/2.0.0/delta-from-1.0.0.payload" --source "$work/slot-a.img" \
  --target "$work/slot-b.img" --keys "$work/trusted" --state "$work/apply-state"
say "applied in $(since "$t"): signature, every blob and source extent checked, verity tree rebuilt"
cmp -s "$work/slot-b.img" "$work/image-2.0.0/usr.img"
rh2=$(json "$work/image-2.0.0/image.json" 'd["usr"]["root_hash"]')
ho2=$(json "$work/image-2.0.0/image.json" 'd["usr"]["hash_offset"]')
run veritysetup verify "$work/slot-b.img" "$work/slot-b.img" "$rh2" --hash-offset="$ho2"
say "slot B is byte-identical to v2's usr.img, and veritysetup verify accepts it"

current="showing a tampered payload refused"
step "8. A payload with one flipped byte in its signed manifest is refused before any write"
cp "$repo/releases/2.0.0/full.payload" "$work/tampered.payload"
# Byte 40 lies in the protobuf manifest, right after the 32-byte header (docs/payload-format.md).
printf '\x00' | dd of="$work/tampered.payload" bs=1 seek=40 conv=notrunc status=none
cp "$work/slot-a.img" "$work/slot-c.img"
before=$(sha256sum <"$work/slot-c.img")
rc=0
msg=$("$basalt" payload apply "$work/tampered.payload" --target "$work/slot-c.img" --keys "$work/trusted" 2>&1) || rc=$?
[ "$rc" -ne 0 ]
say "exit $rc: $(echo "$msg" | tail -1 | cut -c1-160)"
after=$(sha256sum <"$work/slot-c.img")
if [ "$before" = "$after" ]; then say "the target slot is unchanged"; else say "the target slot CHANGED"; false; fi

current="updating a disk image with the host's update flow"
step "9. The host's own update flow on the v1 disk (basalt-updated's offline mode)"
cp --sparse=always "$work/image-1.0.0/disk.img" "$work/host.img"
say "before: $("$basalt" boot --disk "$work/host.img" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("next", d["next"], "| A", d["slots"]["A"]["version"], "| B", d["slots"]["B"]["version"] or "empty")')"
t=$(now)
run "$basalt" update apply --disk "$work/host.img" --repo "file://$repo" --channel stable \
  --keys "$work/trusted" --state "$work/host-state"
say "check, download (delta), apply, verify, finalize, flip in $(since "$t")"
say "after:  $("$basalt" boot --disk "$work/host.img" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("next", d["next"], "| A", d["slots"]["A"]["version"], "| B", d["slots"]["B"]["version"])')"
"$basalt" boot --disk "$work/host.img" status | sed 's/^/   /'

step "Done"
say "Built, signed, published, decided, applied, verified and staged. Booting it in QEMU with the"
say "daemon running under systemd is the end-to-end scenario still to come (docs/README.md)."
