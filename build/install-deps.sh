#!/usr/bin/env bash
# Installs every Debian bookworm package Basalt needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is only refreshed when something is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev clang-format ccache
  # libraries named in DESIGN.md
  libblkid-dev libfdisk-dev libcryptsetup-dev libssl-dev libcurl4-openssl-dev
  libprotobuf-dev protobuf-compiler libbz2-dev libsystemd-dev libzstd-dev liblzma-dev liblz4-dev zlib1g-dev libarchive-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libpugixml-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # image build tools
  erofs-utils e2fsprogs dosfstools mtools grub-efi-amd64-bin grub-common systemd-boot-efi
  cpio kmod fakeroot busybox-static debootstrap
  # UKI assembly (objcopy) and Secure Boot signing and key enrolment; pesign is the Authenticode
  # hash peer of attest/ (pesign --hash)
  binutils sbsigntool efitools pesign
  # measured boot and attestation: the TPM2 software stack (ESYS, MU, TCTIs); swtpm and
  # tpm2-tools as the TPM and the peer in tests
  libtss2-dev libtss2-tcti-swtpm0 swtpm swtpm-tools tpm2-tools
  # test peers
  cryptsetup-bin fdisk gdisk util-linux bsdiff xdelta3 zstd xz-utils nginx-light etcd-server etcd-client
  qemu-system-x86 ovmf dbus curl python3 time bc socat
  # man_pages_render checks the generated man pages with groff -ww
  groff-base
  # the fleet view: rollout guard's integration test scrapes the shipped metrics with them
  prometheus prometheus-node-exporter
  # basalt-updated's authorization test: a real polkitd (and pkcheck) on a private bus
  polkitd openssl
)

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx, etcd and prometheus are test peers started by the tests themselves; keep the packages from starting system services.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
