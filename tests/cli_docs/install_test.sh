#!/usr/bin/env bash
# `cmake --install` into a scratch prefix puts the man pages and completions where man(1) and
# bash-completion look for them (GNUInstallDirs: share/man/manN, share/bash-completion).
# Usage: install_test.sh CMAKE BINARY_DIR
set -uo pipefail
cmake=$1 build=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
rc=0
for f in share/man/man1/basalt.1 share/man/man5/update.conf.5 share/man/man8/basalt-updated.8 \
         share/bash-completion/completions/basalt \
         share/bash-completion/completions/basalt-updated bin/basalt; do
  if [ -s "$prefix/$f" ]; then echo "ok: $f"; else echo "FAIL: $f not installed"; rc=1; fi
done
# man finds the installed page by name through MANPATH.
if command -v man >/dev/null; then
  MANPATH="$prefix/share/man" man -w update.conf >/dev/null 2>&1 ||
    { echo "FAIL: man -w update.conf does not find the installed page"; rc=1; }
fi
exit $rc
