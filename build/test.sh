#!/usr/bin/env bash
# Installs dependencies, builds the default, asan and fuzz presets and runs the whole ctest suite
# in each: default and asan in full, fuzz runs every libFuzzer target with the real engine for a
# fixed, seeded number of executions. Tests that need root, loop devices, nginx, etcd or QEMU run
# here too (CI runs as root). The last line is ctest's summary over all runs, with the skips.
#
# The end-to-end VM scenario (label e2e, about 25 minutes of one QEMU thread) runs in the
# background while the asan and fuzz presets build and test, so the two cores are both busy
# instead of the scenario running alone at the end.
#
# Skips: after each run the skipped tests are listed with their reasons and counted. A skip that
# tests/allowed-skips does not list fails the run, so a test cannot quietly stop running: on a
# machine with every package of install-deps.sh, running as root (CI), nothing skips.
set -uo pipefail
cd "$(dirname "$0")/.."
./build/install-deps.sh || exit 1

jobs=$(nproc)
failed=()
total=0
skipped=0
skip_summary=()
logs=$(mktemp -d)
e2e_pid=
# A build that fails while the scenario runs must not leave it (and its QEMU) behind.
trap '[ -n "$e2e_pid" ] && kill -TERM -- -"$e2e_pid" 2>/dev/null; rm -rf "$logs"' EXIT

build() {
  echo "== build: $1"
  cmake --preset "$1" >/dev/null || exit 1
  cmake --build --preset "$1" -j "$jobs" || exit 1
}

# skips NAME JUNIT: lists the skipped tests of one ctest run (its JUnit report) with the reasons
# they printed, checks them against tests/allowed-skips, and counts them. A test that did not run
# because its fixture failed is not a skip: ctest already counts it as failed.
skips() {
  local report rc n
  report=$(python3 - "$1" "$2" tests/allowed-skips <<'PY'
import re, sys
import xml.etree.ElementTree as ET
run, junit, allow_path = sys.argv[1:]
allowed = []
for line in open(allow_path):
    fields = line.split("#", 1)[0].split(None, 1)
    if len(fields) == 2:
        allowed.append((fields[0], re.compile(fields[1].strip())))
try:
    cases = ET.parse(junit).getroot().iter("testcase")
except (OSError, ET.ParseError) as e:
    print(f"0 skipped; no readable JUnit report ({e})")
    sys.exit(1)
count = unexpected = 0
for case in cases:
    skip = case.find("skipped")
    if skip is None or not skip.get("message", "").startswith("SKIP_"):
        continue
    count += 1
    name = case.get("name")
    out = case.findtext("system-out") or ""
    reasons = [l.strip() for l in out.splitlines() if l.startswith(("BASALT-SKIP ", "SKIP"))]
    ok = any(r in (run, "*") and rx.fullmatch(name) for r, rx in allowed)
    unexpected += not ok
    print(f"  {'allowed' if ok else 'NOT ALLOWED'} skip: {name}: {' | '.join(reasons) or skip.get('message')}")
print(f"{count} skipped, {unexpected} not in tests/allowed-skips")
sys.exit(1 if unexpected else 0)
PY
)
  rc=$?
  echo "$report"
  n=$(tail -1 <<<"$report" | cut -d' ' -f1)
  skipped=$((skipped + ${n:-0}))
  skip_summary+=("$1: $(tail -1 <<<"$report")")
  [ $rc -eq 0 ] || failed+=("$1 (skips)")
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
  ctest "$@" -j "$jobs" --timeout 1800 --output-junit "$logs/$name.xml" 2>&1 | tee "$logs/$name.log"
  count "$name" "$logs/$name.log" "${PIPESTATUS[0]}"
  echo "== skipped in $name:"
  skips "$name" "$logs/$name.xml"
}

build default
run_tests default --preset default -LE e2e
echo "== test: default e2e (in the background; its output follows the other presets)"
setsid ctest --preset default -L e2e --timeout 3600 --output-junit "$logs/e2e.xml" \
  >"$logs/e2e.log" 2>&1 &
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
echo "== skipped in default e2e:"
skips "default-e2e" "$logs/e2e.xml"

echo
printf 'skipped: %s\n' "${skip_summary[@]}"
if [ ${#failed[@]} -eq 0 ]; then
  echo "100% tests passed, 0 tests failed out of $total, $skipped skipped"
  exit 0
fi
echo "tests failed in: ${failed[*]}"
exit 1
