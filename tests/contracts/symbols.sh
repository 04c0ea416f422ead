#!/bin/bash
# symbols.sh DAEMON CLI: the daemon links the payload consumer but not the generator; the CLI
# links both (so the symbol names below are the ones the generator really defines).
set -euo pipefail
daemon=$1 cli=$2
consumer='basalt::payload::ApplyPayload'
# One symbol of each part of the generator (update-engine/payload/generator/src): its entry
# point, inputs, planners, encoders, codecs, writer and signer.
generator=(
  'basalt::payload::GeneratePayload'
  'basalt::payload::LoadImageDir'
  'basalt::payload::ListFileBlocks'
  'basalt::payload::PlanFull'
  'basalt::payload::PlanDelta'
  'basalt::payload::GroupSegments'
  'basalt::payload::EncodeSegment'
  'basalt::payload::CodecChoice::'
  'basalt::payload::BsdiffRunner::'
  'basalt::payload::PayloadWriter::'
  'basalt::payload::Signer::'
)
count() { nm -C --defined-only "$1" | grep -c -F "$2" || true; }
[ "$(count "$daemon" "$consumer")" -gt 0 ] || { echo "FAIL: $daemon defines no $consumer"; exit 1; }
for sym in "${generator[@]}"; do
  [ "$(count "$cli" "$sym")" -gt 0 ] || { echo "FAIL: $cli defines no $sym (renamed?)"; exit 1; }
  n=$(count "$daemon" "$sym")
  [ "$n" -eq 0 ] || { echo "FAIL: $daemon defines $sym ($n symbols)"; exit 1; }
done
echo "ok: $(basename "$daemon") links the payload consumer and no generator code"
