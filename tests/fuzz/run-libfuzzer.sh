#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded number of executions on a scratch copy of its seed
# corpus, so the repository's corpus stays as committed. A fixed seed and run count make the
# run deterministic for a given binary (a CI failure reproduces); set BASALT_FUZZ_SEED=0 for a
# random seed and BASALT_FUZZ_RUNS for longer campaigns. Exits nonzero on any crash, leak or
# sanitizer report.
set -euo pipefail
fuzzer=$1 corpus=$2 runs=${BASALT_FUZZ_RUNS:-${3:-100000}} seed=${BASALT_FUZZ_SEED:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
[ -d "$corpus" ] && cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
"$fuzzer" -runs="$runs" -seed="$seed" -max_total_time=300 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
