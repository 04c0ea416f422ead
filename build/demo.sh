#!/usr/bin/env bash
# The README's main job: shows Basalt working on real data, from a fresh Debian bookworm machine.
# It installs what it needs, builds Basalt, and walks through what exists today, printing a
# short story. On failure it says which step failed and where the logs are.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${BASALT_DEMO_DIR:-/var/tmp/basalt-demo}
log=$work/demo.log
mkdir -p "$work"
: > "$log"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
fail() {
  printf '\n\033[31mdemo failed during: %s\033[0m\n   full log: %s\n' "$current" "$log" >&2
  tail -n 20 "$log" | sed 's/^/   | /' >&2
  exit 1
}
trap fail ERR
run() { "$@" >>"$log" 2>&1; }
secs() { date +%s.%N; }
elapsed() { printf '%.1f s' "$(echo "$(secs) - $1" | bc)"; }

current="installing dependencies"
step "1. Install build and runtime dependencies"
run ./build/install-deps.sh
command -v bc >/dev/null || run apt-get install -y -qq bc
say "Debian packages present (build/install-deps.sh)"

current="building Basalt"
step "2. Build Basalt (default preset)"
t=$(secs)
run cmake --preset default
run cmake --build --preset default -j "$(nproc)" --target basalt
basalt=$root/out/default/bin/basalt
say "built $basalt in $(elapsed "$t")"

current="making an erofs image of real data"
step "3. Pack a real /usr-like tree into a read-only erofs image"
img=$work/usr.img
rm -f "$img"
t=$(secs)
run mkfs.erofs --quiet -T 0 -U 00000000-0000-0000-0000-000000000001 "$img" /usr/share
data_size=$(stat -c %s "$img")
say "/usr/share -> $(numfmt --to=iec "$data_size") erofs image in $(elapsed "$t")"

current="building the dm-verity tree"
step "4. Protect it with dm-verity: basalt verity format (tree appended, Flatcar layout)"
t=$(secs)
json=$("$basalt" verity format "$img" --seed demo-seed --json)
root_hash=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_hash"])')
hash_offset=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_offset"])')
say "root hash $root_hash"
say "tree at byte $hash_offset, image now $(numfmt --to=iec "$(stat -c %s "$img")"), in $(elapsed "$t")"

current="cross-checking with veritysetup"
step "5. The reference tool agrees: veritysetup verify reads our tree"
run veritysetup verify "$img" "$img" "$root_hash" --hash-offset="$hash_offset"
say "veritysetup verify: OK"
run "$basalt" verity verify "$img" --hash-offset "$hash_offset" --root-hash "$root_hash"
say "basalt verity verify: OK"

current="showing tamper detection"
step "6. Flip one byte in the data: both tools refuse, and Basalt names the block"
printf '\xff' | dd of="$img" bs=1 seek=$((data_size / 2)) conv=notrunc status=none
if veritysetup verify "$img" "$img" "$root_hash" --hash-offset="$hash_offset" >>"$log" 2>&1; then
  say "veritysetup accepted a corrupted image (unexpected)"; false
fi
say "veritysetup verify: refused"
rc=0
msg=$("$basalt" verity verify "$img" --hash-offset "$hash_offset" --root-hash "$root_hash" 2>&1) || rc=$?
[ "$rc" -eq 4 ] || { say "expected exit code 4 (integrity), got $rc: $msg"; false; }
say "basalt verity verify: exit $rc, \"$msg\""

step "Done"
say "Today Basalt's verity engine builds and checks veritysetup-compatible trees."
say "Image building, payloads, channels and the host daemon arrive with their issues (docs/)."
say "Work files: $work  (log: $log)"
