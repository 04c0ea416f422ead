#!/usr/bin/env bash
# The generated bash completion, called as bash would call it: COMP_WORDS/COMP_CWORD set, the
# function run, COMPREPLY read. Expectations are written here by hand.
# Usage: completion_test.sh COMPLETIONS_DIR
set -uo pipefail
dir=$1
# shellcheck source=/dev/null
source "$dir/basalt" || { echo "FAIL: cannot source $dir/basalt"; exit 1; }
# shellcheck source=/dev/null
source "$dir/basalt-updated" || { echo "FAIL: cannot source $dir/basalt-updated"; exit 1; }
rc=0

# complete FUNCTION WORD... : the last word is the one being completed.
complete_words() {
  local fn=$1; shift
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  "$fn"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect_exact() {  # expect_exact "WANT" FUNCTION WORD...
  local want=$1; shift
  local got; got=$(complete_words "$@" | tr '\n' ' ')
  if [ "$got" = "$want " ]; then echo "ok: ${*:2}"; else echo "FAIL: '${*:2}' -> '$got', want '$want'"; rc=1; fi
}
expect_has() {  # expect_has "W1 W2" FUNCTION WORD...
  local want=$1; shift
  local got; got=$(complete_words "$@")
  for w in $want; do
    grep -qx -- "$w" <<<"$got" || { echo "FAIL: '${*:2}' -> '$(tr '\n' ' ' <<<"$got")' lacks $w"; rc=1; return; }
  done
  echo "ok: ${*:2}"
}
expect_lacks() {
  local bad=$1; shift
  local got; got=$(complete_words "$@")
  if grep -qx -- "$bad" <<<"$got"; then echo "FAIL: '${*:2}' offers $bad"; rc=1; else echo "ok: ${*:2} (no $bad)"; fi
}

expect_exact "channel" _basalt basalt ch
expect_has "set pin pause resume rollout" _basalt basalt channel ""
expect_has "--release --key" _basalt basalt channel set --
expect_has "ak quote verify predict seal unseal" _basalt basalt attest ""
expect_has "--help --version" _basalt basalt --
# A word after an option that takes a value is that value: no subcommands offered there.
expect_exact "" _basalt basalt channel set --repo ""
# --version belongs to the top level, not to subcommands.
expect_lacks "--version" _basalt basalt channel set --
expect_has "--root --keys --state-dir --no-periodic --version" _basalt_updated basalt-updated --
# A flag takes no value: the word after it is completed as usual.
expect_has "--release" _basalt basalt channel set --force --re
expect_has "set pin" _basalt basalt --help channel ""
exit $rc
