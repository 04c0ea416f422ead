#!/bin/bash
# Installs a Basalt build into an OS tree the way a distribution package would: binaries and units
# from `cmake --install`, the release keys the host will trust (inside /usr, so verity covers
# them), the image's default update.conf, and the units enabled.
#
# Usage: install-basalt.sh TREE BUILD_DIR KEYS_DIR UPDATE_CONF [ROOT_JSON]
#   TREE         the OS tree to modify (a copy; make-trees.sh's cache is never touched)
#   BUILD_DIR    a configured and built CMake binary dir, e.g. out/default
#   KEYS_DIR     directory of trusted PEM public keys (*.pem) → /usr/share/basalt/keys/
#   UPDATE_CONF  file installed as /usr/share/basalt/update.conf
#   ROOT_JSON    optional: the repository's root document the host starts from (roots/<N>.json)
#                → /usr/share/basalt/root.json; hosts then trust keys by role and follow rotations
set -euo pipefail
[ $# -eq 4 ] || [ $# -eq 5 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
tree=$1 build=$2 keys=$3 conf=$4 root=${5:-}
DESTDIR=$tree cmake --install "$build" --prefix /usr --strip >/dev/null
install -d -m 0755 "$tree/usr/share/basalt/keys"
install -m 0644 "$keys"/*.pem "$tree/usr/share/basalt/keys/"
install -m 0644 "$conf" "$tree/usr/share/basalt/update.conf"
if [ -n "$root" ]; then
  "$build/bin/basalt" keys show-root --file "$root" >/dev/null
  install -m 0644 "$root" "$tree/usr/share/basalt/root.json"
fi
install -d -m 0755 "$tree/etc/basalt" "$tree/var/lib/basalt"
# Enable what the units ask for ([Install] sections), as `systemctl enable` would, without
# running systemctl against a foreign tree.
for unit in "$tree"/usr/lib/systemd/system/basalt*.service; do
  [ -e "$unit" ] || continue
  name=$(basename "$unit")
  for kind in Wanted:wants Required:requires; do
    for target in $(sed -n "s/^${kind%%:*}By=//p" "$unit"); do
      install -d "$tree/etc/systemd/system/$target.${kind#*:}"
      ln -sfn "/usr/lib/systemd/system/$name" "$tree/etc/systemd/system/$target.${kind#*:}/$name"
    done
  done
done
# Every shared library the binaries need must come from the tree itself.
missing=$(for b in "$tree"/usr/bin/basalt* "$tree"/usr/libexec/basalt/*; do
  [ "$(head -c4 "$b" | tail -c3)" = ELF ] || continue
  chroot "$tree" ldd "${b#"$tree"}"
done |
  grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "install-basalt: libraries missing from the tree:" >&2
  echo "$missing" >&2
  exit 1
fi
