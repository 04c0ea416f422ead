#!/usr/bin/env bash
# Installs dependencies, builds the default, asan and fuzz presets and runs the whole ctest suite
# in each: default and asan in full, fuzz runs every libFuzzer target with the real engine for a
# fixed, seeded number of executions. Tests that need root, loop devices, nginx, etcd or QEMU run
# here too (CI runs as root). The last line is ctest's summary over all runs.
#
# The end-to-end VM scenario (label e2e, about 25 minutes of one QEMU thread) runs in the
# background while the asan and fuzz presets build and test, so the two cores are both busy
# instead of the scenario running alone at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
./build/install-deps.sh || exit 1

jobs=$(nproc)
failed=()
total=0
logs=$(mktemp -d)
e2e_pid=
# A build that fails while the scenario runs must not leave it (and its QEMU) behind.
trap '[ -n "$e2e_pid" ] && kill -TERM -- -"$e2e_pid" 2>/dev/null; rm -rf "$logs"' EXIT

build() {
  echo "== build: $1"
  cmake --preset "$1" >/dev/null || exit 1
  cmake --build --preset "$1" -j "$jobs" || exit 1
}
# count NAME LOG STATUS: records a finished ctest run.
count() {
  [ "$3" -eq 0 ] || failed+=("$1")
  local n
  n=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$2" | tail -1)
  total=$((total + ${n:-0}))
}
run_tests() {  # NAME [ctest args...]
  local name=$1
  shift
  echo "== test: $name"
  ctest "$@" -j "$jobs" --timeout 1800 2>&1 | tee "$logs/$name.log"
  count "$name" "$logs/$name.log" "${PIPESTATUS[0]}"
}

build default
run_tests default --preset default -LE e2e
echo "== test: default e2e (in the background; its output follows the other presets)"
setsid ctest --preset default -L e2e --timeout 3600 >"$logs/e2e.log" 2>&1 &
e2e_pid=$!
build asan
build fuzz
run_tests asan --preset asan
run_tests fuzz --preset fuzz
echo "== test: default e2e"
wait "$e2e_pid"
e2e_status=$?
e2e_pid=
cat "$logs/e2e.log"
count "default e2e" "$logs/e2e.log" "$e2e_status"

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "100% tests passed, 0 tests failed out of $total"
  exit 0
fi
echo "tests failed in: ${failed[*]}"
exit 1
