# Builds reference-OS images (image/reference/) for the end-to-end scenario and the demo (sourced).
# Needs: BIN (basalt binaries), SRC (source tree), BUILD (CMake binary dir), W (work dir).
set -euo pipefail

# ref_trees: prints the cached v1/v2 tree directory (debootstrap on first use, ~5 min).
ref_trees() { "$SRC/image/reference/make-trees.sh"; }

# ref_tree TREES VERSION OUT KEYS CONF: a copy of TREES/v1 (VERSION 1.x) or v2 (2.x and later)
# with Basalt installed, IMAGE_VERSION in /usr/lib/os-release, and the serial status reporter.
ref_tree() {
  local trees=$1 version=$2 out=$3 keys=$4 conf=$5 base=v2
  case $version in 1.*) base=v1 ;; esac
  rm -rf "$out"
  cp -a "$trees/$base" "$out"
  "$SRC/image/reference/install-basalt.sh" "$out" "$BUILD" "$keys" "$conf"
  # A changed file in /usr, as every real update has: the image's own version.
  sed -i '/^IMAGE_VERSION=/d' "$out/usr/lib/os-release"
  echo "IMAGE_VERSION=$version" >> "$out/usr/lib/os-release"
  # Test/demo only: mirror basalt-updated's state onto the serial console, one JSON per change.
  cat > "$out/etc/systemd/system/basalt-serial-status.service" <<'UNIT'
[Unit]
Description=Print basalt update status on the serial console (tests, demo)
After=basalt-updated.service
Wants=basalt-updated.service

[Service]
ExecStart=/bin/sh -c 'exec /usr/bin/basalt update watch --json | sed -u "s/^/BASALT-STATUS /" > /dev/ttyS0'
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
  ln -sfn /etc/systemd/system/basalt-serial-status.service \
    "$out/etc/systemd/system/multi-user.target.wants/basalt-serial-status.service"
}
