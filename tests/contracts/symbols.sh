#!/bin/bash
# symbols.sh DAEMON CLI: the daemon links the payload consumer but not the generator; the CLI
# links both (so the symbol names below are the ones the generator really defines).
set -euo pipefail
daemon=$1 cli=$2
generator='basalt::payload::GeneratePayload'
consumer='basalt::payload::ApplyPayload'
count() { nm -C --defined-only "$1" | grep -c -F "$2" || true; }
[ "$(count "$cli" "$generator")" -gt 0 ] || { echo "FAIL: $cli defines no $generator"; exit 1; }
[ "$(count "$daemon" "$consumer")" -gt 0 ] || { echo "FAIL: $daemon defines no $consumer"; exit 1; }
n=$(count "$daemon" "$generator")
[ "$n" -eq 0 ] || { echo "FAIL: $daemon defines $generator ($n symbols)"; exit 1; }
# No object of the generator library at all: its sources' own symbols.
for sym in 'basalt::payload::ListFileBlocks' 'basalt::payload::LoadImageDir'; do
  n=$(count "$daemon" "$sym")
  [ "$n" -eq 0 ] || { echo "FAIL: $daemon defines $sym"; exit 1; }
done
echo "ok: $(basename "$daemon") links the payload consumer and no generator code"
