#!/bin/bash
# daemon_interface_xml_test.sh UPDATED BASALT UNITS_DIR: the installed interface XML
# (UNITS_DIR/org.basalt.Update1.xml) names exactly the members basalt-updated serves, with the
# same signatures, types and change signals, compared both ways against the running daemon's own
# introspection on a private bus. The activation file names the bus name the unit owns and the
# unit that is shipped (it cannot be activated here: that takes systemd).
set -u
UPDATED=$1 BASALT=$2 UNITS=$3
XML=$UNITS/org.basalt.Update1.xml
. "$(dirname "$0")/daemon_bus.sh"
activation=$UNITS/org.basalt.Update1.service
grep -qx 'Name=org.basalt.Update1' "$activation" &&
  grep -qx 'BusName=org.basalt.Update1' "$UNITS/basalt-updated.service" &&
  grep -qx 'SystemdService=basalt-updated.service' "$activation" &&
  grep -qx 'User=root' "$activation" || {
  echo "$activation does not name org.basalt.Update1 and basalt-updated.service (owning it)"
  exit 1
}
need_tools dbus-daemon busctl python3 sgdisk mformat openssl
WORK=$(mktemp -d)
trap 'stop_all; rm -rf "$WORK"' EXIT
start_bus || exit 1
start_daemon || exit 1
busctl --address="$BUS" introspect --xml-interface org.basalt.Update1 /org/basalt/Update1 \
  >"$WORK/live.xml" || exit 1
python3 "$(dirname "$0")/compare_interface.py" "$XML" "$WORK/live.xml" org.basalt.Update1.Manager
