#!/usr/bin/env bash
# `basalt --version` and `basalt-updated --version`: two lines, systemd style (docs/cli.md):
#   PROGRAM X.Y.Z (DESCRIBE)
#   +TOKEN -TOKEN ...
# Every token must be one docs/cli.md documents, and both programs list the same features.
# Usage: version_test.sh BASALT BASALT_UPDATED CLI_MD
set -euo pipefail
basalt=$1 updated=$2 cli_md=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

# The documented tokens: rows "| `TOKEN` | ..." of docs/cli.md's feature table.
documented=$(sed -n 's/^| `\([A-Z0-9]*\)` |.*/\1/p' "$cli_md")
[ -n "$documented" ] || fail "no feature table in $cli_md"

features=()
for prog in "$basalt" "$updated"; do
  name=$(basename "$prog")
  out=$("$prog" --version) || fail "$name --version exited $?"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] || fail "$name --version is not two lines: $out"
  first=$(printf '%s\n' "$out" | sed -n 1p)
  second=$(printf '%s\n' "$out" | sed -n 2p)
  [[ $first =~ ^$name\ [0-9]+\.[0-9]+\.[0-9]+\ \(.+\)$ ]] ||
    fail "$name: first line '$first' is not '$name X.Y.Z (DESCRIBE)'"
  for tok in $second; do
    [[ $tok =~ ^[+-][A-Z0-9]+$ ]] || fail "$name: '$tok' is not +FEATURE or -FEATURE"
    grep -qx "${tok:1}" <<<"$documented" || fail "$name: feature ${tok:1} is not in $cli_md"
  done
  # Built into every configuration (required packages and always-built libraries).
  for must in +DBUS +CURL +TPM2 +EROFS; do
    [[ " $second " == *" $must "* ]] || fail "$name: '$second' lacks $must"
  done
  features+=("$second")
  echo "$name: $first | $second"
done
[ "${features[0]}" = "${features[1]}" ] || fail "the two programs list different features"
echo PASS
