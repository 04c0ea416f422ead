#!/usr/bin/env bash
# Installs dependencies, builds the default and asan presets and runs the whole ctest suite in
# both, then builds every libFuzzer target with the real engine (fuzz preset) and runs each for a
# fixed, seeded number of executions. Tests that need root, loop devices, nginx or QEMU run here
# too (CI runs as root). The last line is ctest's summary over all three runs.
set -uo pipefail
cd "$(dirname "$0")/.."
./build/install-deps.sh || exit 1

jobs=$(nproc)
failed=()
for preset in default asan fuzz; do
  echo "== build: $preset"
  cmake --preset "$preset" >/dev/null || exit 1
  cmake --build --preset "$preset" -j "$jobs" || exit 1
done
total=0
for preset in default asan fuzz; do
  echo "== test: $preset"
  log=$(mktemp)
  ctest --preset "$preset" -j "$jobs" --timeout 1800 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("$preset")
  n=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$log" | tail -1)
  total=$((total + ${n:-0}))
  rm -f "$log"
done
echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "100% tests passed, 0 tests failed out of $total"
  exit 0
fi
echo "tests failed in preset(s): ${failed[*]}"
exit 1
