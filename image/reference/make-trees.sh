#!/bin/bash
# Builds the reference OS trees: a Debian bookworm host with systemd, dbus, networkd and the cloud
# kernel, plus the runtime libraries Basalt links against. v1 is the point release; v2 is v1 after
# bookworm-updates and bookworm-security (package upgrades, usually a kernel bump), the way real
# updates differ. Basalt itself is added later by install-basalt.sh, so this cache survives
# rebuilds of Basalt.
#
# Usage: make-trees.sh [CACHE_ROOT]   (needs root and access to a Debian mirror; ~5 minutes)
# Prints the directory holding v1/ and v2/. Cached under CACHE_ROOT keyed by this script's hash.
set -euo pipefail
cache_root=${1:-${BASALT_FIXTURES:-/var/tmp/basalt-fixtures}}
mirror=${BASALT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BASALT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
key=$(sha256sum "$0" | cut -c1-12)
dir=$cache_root/reference-$key
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi
command -v debootstrap >/dev/null || { echo "make-trees: debootstrap is missing (build/install-deps.sh installs it)" >&2; exit 1; }
rm -rf "$dir"; mkdir -p "$dir"

# Packages the image needs at runtime. The lib* list is what `basalt` and `basalt-updated` link
# against (ldd of the Basalt build; the TPM2 stack for `basalt attest`, with the device TCTI its
# loader opens at run time); the install step checks that nothing is missing. mtools:
# the daemon writes the ESP through mtools on hosts that do not mount it (this one), and
# dosfstools' fsck.fat repairs what an interrupted write left behind before it writes again.
pkgs=(systemd systemd-sysv dbus udev kmod linux-image-cloud-amd64 busybox iproute2
  libfdisk1 libblkid1 libcryptsetup12 libcurl4 libprotobuf-lite32 libzstd1 liblzma5 libarchive13
  libfmt9 libssl3 libtomlplusplus3 libpugixml1v5 libsystemd0 libbz2-1.0 cryptsetup-bin
  libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-rc0 libtss2-tctildr0 libtss2-tcti-device0
  mtools dosfstools)

in_root() {
  local r=$1; shift
  mount -t proc proc "$r/proc"
  local rc=0
  chroot "$r" "$@" || rc=$?
  umount "$r/proc"
  return $rc
}

log=$dir/build.log
echo "make-trees: debootstrap bookworm into $dir/v1 (log: $log)" >&2
debootstrap --variant=minbase bookworm "$dir/v1" "$mirror" >"$log" 2>&1
# Documentation, man pages and translations are a third of a minimal /usr and nobody reads them
# on an image host; leaving them out makes every image, payload and TCG boot test smaller (the
# same trim Debian's container images do). The exclude file stays, so v2's upgrades obey it too.
cat > "$dir/v1/etc/dpkg/dpkg.cfg.d/01-basalt-nodoc" <<'EXCL'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EXCL
find "$dir/v1/usr/share/doc" -type f ! -name copyright -delete
rm -rf "$dir/v1/usr/share/man/"* "$dir/v1/usr/share/info/"*
find "$dir/v1/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
cp /etc/resolv.conf "$dir/v1/etc/resolv.conf"
in_root "$dir/v1" apt-get update -qq >>"$log" 2>&1
DEBIAN_FRONTEND=noninteractive in_root "$dir/v1" \
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1

# Host configuration shared by both versions: DHCP on any ethernet link, serial console, no
# password prompts in the way of tests (root is locked; the tests talk over the serial console
# through units, not a login).
mkdir -p "$dir/v1/etc/systemd/network"
cat > "$dir/v1/etc/systemd/network/80-ethernet.network" <<'NET'
[Match]
Type=ether

[Network]
DHCP=yes
NET
in_root "$dir/v1" systemctl enable systemd-networkd.service >>"$log" 2>&1
echo basalt > "$dir/v1/etc/hostname"
: > "$dir/v1/etc/machine-id"
rm -f "$dir/v1/etc/resolv.conf"
in_root "$dir/v1" apt-get clean >>"$log" 2>&1
rm -rf "$dir/v1/var/lib/apt/lists/"*

echo "make-trees: v2 = v1 + bookworm-updates + bookworm-security" >&2
cp -a "$dir/v1" "$dir/v2"
cp /etc/resolv.conf "$dir/v2/etc/resolv.conf"
cat > "$dir/v2/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SRC
in_root "$dir/v2" apt-get update -qq >>"$log" 2>&1
DEBIAN_FRONTEND=noninteractive in_root "$dir/v2" \
  apt-get dist-upgrade -y -qq --no-install-recommends >>"$log" 2>&1
# Keep only the newest kernel, as an image build would.
newest=$(ls "$dir/v2/usr/lib/modules" | sort -V | tail -1)
for k in $(ls "$dir/v2/usr/lib/modules"); do
  [ "$k" = "$newest" ] && continue
  DEBIAN_FRONTEND=noninteractive in_root "$dir/v2" apt-get purge -y -qq "linux-image-$k" >>"$log" 2>&1 || true
done
rm -f "$dir/v2/etc/resolv.conf"
in_root "$dir/v2" apt-get clean >>"$log" 2>&1
rm -rf "$dir/v2/var/lib/apt/lists/"*
for v in v1 v2; do
  chroot "$dir/$v" dpkg-query -W -f '${Package} ${Version}\n' > "$dir/$v.pkgs"
done
diff "$dir/v1.pkgs" "$dir/v2.pkgs" > "$dir/changes.txt" || true
touch "$dir/.complete"
echo "$dir"
