#!/usr/bin/env bash
# Installs dependencies, builds the default and asan presets, and runs the whole ctest suite in
# both. Tests that need root, loop devices, nginx or QEMU run here too (CI runs as root).
set -uo pipefail
cd "$(dirname "$0")/.."
./build/install-deps.sh || exit 1

jobs=$(nproc)
status=0
for preset in default asan; do
  echo "== build: $preset"
  cmake --preset "$preset" >/dev/null || exit 1
  cmake --build --preset "$preset" -j "$jobs" || exit 1
done
for preset in default asan; do
  echo "== test: $preset"
  ctest --preset "$preset" -j "$jobs" --timeout 1800 || status=1
done
exit $status
