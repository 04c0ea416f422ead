#!/bin/bash
# Smoke check of the reference OS (manual for now; the full scenario of issue #8 builds on it):
# build v1 of image/reference, boot it in QEMU (OVMF + GRUB + basalt-init + systemd) and wait
# until basalt-updated reports its state on the serial console.
# Usage: reference_smoke.sh BUILD_DIR [WORK_DIR]
set -euo pipefail
BUILD=$(cd "$1" && pwd); BIN=$BUILD/bin
SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=${2:-$(mktemp -d /var/tmp/basalt-ref-XXXXXX)}
mkdir -p "$W"
. "$SRC/tests/e2e/reference_lib.sh"
trees=$(ref_trees)
[ -d "$W/keys" ] || "$BIN/basalt" keys generate --output "$W/keys" >/dev/null
mkdir -p "$W/trusted"; cp "$W"/keys/*.pub.pem "$W/trusted/"
cat > "$W/update.conf" <<CONF
SERVER=http://10.0.2.100/
CHANNEL=stable
REBOOT_STRATEGY=reboot
CHECK_INTERVAL=20s
CONF
ref_tree "$trees" 1.0.0 "$W/tree1" "$W/trusted" "$W/update.conf"
rm -rf "$W/img1"
"$BIN/basalt" image build --rootfs "$W/tree1" --output "$W/img1" \
  --definition "$SRC/image/reference/definition.toml" --version 1.0.0 --seed ref-1 \
  --source-date-epoch 1700000000 >/dev/null
cp --sparse=always "$W/img1/disk.img" "$W/disk.img"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
echo "booting $W/disk.img; serial log: $W/serial.log"
timeout "${BOOT_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg -m 1024 -nographic \
  -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
  -drive if=pflash,format=raw,file="$W/vars.fd" \
  -drive file="$W/disk.img",format=raw,if=virtio \
  -netdev user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:9 \
  -device virtio-net-pci,netdev=n0 </dev/null > "$W/serial.log" 2>&1 &
qemu=$!
for _ in $(seq 1 "${BOOT_TIMEOUT:-300}"); do
  grep -q "BASALT-STATUS" "$W/serial.log" 2>/dev/null && break
  kill -0 $qemu 2>/dev/null || break
  sleep 1
done
kill $qemu 2>/dev/null || true
tr -d '\r' < "$W/serial.log" | grep -E "basalt|BASALT|Reached target|Failed" | head -40
grep -q "BASALT-STATUS" "$W/serial.log"
