#!/usr/bin/env bash
# Every generated page renders with groff's warnings on (-ww) and produces none; a warning
# usually means a broken escape or macro the reader would see as garbage.
# Usage: man_render_test.sh PAGE...
set -uo pipefail
command -v groff >/dev/null || { echo "groff not installed (groff-base); skipping"; exit 77; }
rc=0
for page in "$@"; do
  [ -s "$page" ] || { echo "FAIL: $page missing or empty"; rc=1; continue; }
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  if [ -n "$warnings" ]; then
    echo "FAIL: $page:"; echo "$warnings"; rc=1
  else
    echo "ok: $page"
  fi
done
exit $rc
