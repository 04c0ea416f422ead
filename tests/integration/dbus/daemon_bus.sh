# Sourced by the tests here: a private system-style dbus-daemon and the real basalt-updated on
# it, over a tiny GPT disk image (ESP, USR-A good, USR-B; gptprio boot state), with a config
# whose server is never reached. Needs: UPDATED and BASALT (program paths), WORK (a directory),
# and the caller's EXIT trap to call stop_all.

BUS_PIDS=()

skip() {
  echo "SKIP $*"
  exit 77
}

need_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
  done
}

stop_all() {
  local i
  # Reverse order: the daemon before its bus.
  for ((i = ${#BUS_PIDS[@]} - 1; i >= 0; i--)); do
    kill "${BUS_PIDS[i]}" 2>/dev/null
    wait "${BUS_PIDS[i]}" 2>/dev/null
  done
  BUS_PIDS=()
}

# start_bus: a system-type bus that allows everything (the daemon decides), on $WORK/bus.
start_bus() {
  cat >"$WORK/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$WORK/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
  dbus-daemon --config-file="$WORK/bus.conf" --nofork --nopidfile >"$WORK/bus.log" 2>&1 &
  BUS_PIDS+=($!)
  BUS="unix:path=$WORK/bus"
  local i
  for i in $(seq 100); do
    [ -S "$WORK/bus" ] && return 0
    sleep 0.05
  done
  echo "dbus-daemon did not start: $(cat "$WORK/bus.log")"
  return 1
}

# wait_name NAME: until NAME is owned on $BUS (10 s).
wait_name() {
  local i
  for i in $(seq 100); do
    busctl --address="$BUS" status "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 never appeared on the bus"
  return 1
}

# start_daemon: basalt-updated on $BUS; its log in $WORK/daemon.log.
start_daemon() {
  mkdir -p "$WORK/root/etc/basalt" "$WORK/state" "$WORK/keys"
  printf 'SERVER=http://127.0.0.1:9/\nCHANNEL=stable\nREBOOT_STRATEGY=off\n' \
    >"$WORK/root/etc/basalt/update.conf"
  openssl genpkey -algorithm ed25519 -out "$WORK/key.pem" 2>/dev/null &&
    openssl pkey -in "$WORK/key.pem" -pubout -out "$WORK/keys/release.pem" || return 1
  truncate -s 96M "$WORK/disk.img"
  sgdisk -n1:2048:+32M -c1:EFI-SYSTEM -t1:ef00 -n2:0:+16M -c2:USR-A -n3:0:+16M -c3:USR-B \
    "$WORK/disk.img" >/dev/null || return 1
  mformat -i "$WORK/disk.img@@1M" -F :: || return 1
  "$BASALT" boot --disk "$WORK/disk.img" --backend gptprio set-next A >/dev/null &&
    "$BASALT" boot --disk "$WORK/disk.img" --backend gptprio mark-good A >/dev/null || return 1
  DBUS_SYSTEM_BUS_ADDRESS="$BUS" NOTIFY_SOCKET= "$UPDATED" --root "$WORK/root" \
    --keys "$WORK/keys" --root-file "$WORK/state/no-shipped-root.json" \
    --state-dir "$WORK/state" --disk "$WORK/disk.img" --no-periodic >"$WORK/daemon.log" 2>&1 &
  BUS_PIDS+=($!)
  wait_name org.basalt.Update1 || {
    cat "$WORK/daemon.log"
    return 1
  }
}
