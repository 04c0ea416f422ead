#!/usr/bin/env bash
# update.conf(5) is written by hand; every key config.cc accepts must have its entry there
# (".B KEY" under one of the sections), so a new key cannot ship undocumented.
# Usage: update_conf_keys_test.sh CONFIG_CC PAGE_IN
set -euo pipefail
config_cc=$1 page=$2
# Keys appear in the parser as `key == "NAME"` (ApplyConfigText and ApplyEtcdKey).
keys=$(grep -o 'key == "[A-Z0-9_]*"' "$config_cc" | sed 's/.*"\(.*\)"/\1/' | sort -u)
count=$(wc -w <<<"$keys")
[ "$count" -ge 20 ] || { echo "FAIL: found only $count keys in $config_cc; did the parser change shape?"; exit 1; }
missing=0
for k in $keys; do
  grep -qx "\.B $k" "$page" || { echo "FAIL: $k is accepted by config.cc but not in $page"; missing=1; }
done
[ $missing -eq 0 ] && echo "PASS: all $count keys documented"
exit $missing
