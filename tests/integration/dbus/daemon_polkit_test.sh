#!/bin/bash
# daemon_polkit_test.sh UPDATED BASALT POLICY RULES_EXAMPLE: basalt-updated asks a real polkitd
# about non-root callers. A private system-style bus runs polkitd (which reads the installed
# org.basalt.update1.policy and the example rule for an admin group) and basalt-updated; a
# member of the group may call every privileged method, a non-member is refused (AccessDenied,
# `basalt update` exit 5), root needs no polkit, and with polkitd gone a non-root caller is
# refused as "polkit is unavailable". pkcheck cross-checks the same decision.
#
# polkitd cannot be pointed at other action or rule directories, so the policy goes to
# /usr/share/polkit-1/actions and a test rule (for a test group) to /etc/polkit-1/rules.d for the
# test's duration; both, the test users and the group are removed by the EXIT trap (a policy
# file already there is put back). Needs root; CI runs as root on a throwaway machine.
set -u
UPDATED=$1 BASALT=$2 POLICY=$3 RULES_EXAMPLE=$4
. "$(dirname "$0")/daemon_bus.sh"
POLKITD=
for p in /usr/lib/polkit-1/polkitd /usr/libexec/polkitd /usr/lib/policykit-1/polkitd; do
  [ -x "$p" ] && POLKITD=$p && break
done
[ -n "$POLKITD" ] || skip "polkitd is not installed (package polkitd)"
need_tools dbus-daemon dbus-send busctl pkcheck sgdisk mformat openssl useradd groupadd userdel \
  groupdel runuser
[ "$(id -u)" = 0 ] || skip "needs root (test users, the policy under /usr/share/polkit-1)"

WORK=$(mktemp -d)
chmod 755 "$WORK"
ACTIONS=/usr/share/polkit-1/actions
RULES=/etc/polkit-1/rules.d/50-basalt-test-$$.rules
TAG=bpk$$
GROUP=${TAG}adm MEMBER=${TAG}in OUTSIDER=${TAG}out
cleanup() {
  stop_all
  rm -f "$RULES"
  if [ -e "$WORK/saved.policy" ]; then
    mv -f "$WORK/saved.policy" "$ACTIONS/org.basalt.update1.policy"
  else
    rm -f "$ACTIONS/org.basalt.update1.policy"
  fi
  userdel "$MEMBER" 2>/dev/null
  userdel "$OUTSIDER" 2>/dev/null
  groupdel "$GROUP" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

[ -e "$ACTIONS/org.basalt.update1.policy" ] && cp -p "$ACTIONS/org.basalt.update1.policy" "$WORK/saved.policy"
install -D -m 644 "$POLICY" "$ACTIONS/org.basalt.update1.policy" || exit 1
mkdir -p /etc/polkit-1/rules.d
sed "s/\"basalt-admin\"/\"$GROUP\"/" "$RULES_EXAMPLE" >"$RULES" || exit 1
grep -q "\"$GROUP\"" "$RULES" || {
  echo "the example rule names no \"basalt-admin\" group"
  exit 1
}
groupadd "$GROUP" || exit 1
useradd -M -N -G "$GROUP" -s /usr/sbin/nologin "$MEMBER" || exit 1
useradd -M -N -s /usr/sbin/nologin "$OUTSIDER" || exit 1

start_bus || exit 1
# polkitd is a GDBus program: it finds "the system bus" through DBUS_SYSTEM_BUS_ADDRESS, and
# drops to its own user (polkitd) by itself.
DBUS_SYSTEM_BUS_ADDRESS="$BUS" "$POLKITD" --no-debug >"$WORK/polkitd.log" 2>&1 &
POLKIT_PID=$!
BUS_PIDS+=($POLKIT_PID)
wait_name org.freedesktop.PolicyKit1 || {
  cat "$WORK/polkitd.log"
  exit 1
}
start_daemon || exit 1

# call USER METHOD [ARGS...]: the method's dbus-send output (the error name on failure).
call() {
  local user=$1 method=$2
  shift 2
  runuser -u "$user" -- dbus-send --bus="$BUS" --print-reply --dest=org.basalt.Update1 \
    /org/basalt/Update1 "org.basalt.Update1.Manager.$method" "$@" 2>&1
}
declare -A ACTION=([Check]=check [Apply]=apply [Rollback]=rollback [MarkGood]=mark-good
  [Cancel]=cancel)

for method in Check Apply Rollback MarkGood Cancel; do
  args=()
  [ "$method" = Apply ] && args=(string:)
  # Allowed: whatever the method then says (a refusal or failure on this fake disk is fine),
  # it is not AccessDenied.
  out=$(call "$MEMBER" "$method" "${args[@]}")
  case $out in *AccessDenied*) fail "$method as a member of $GROUP: $out" ;; esac
  out=$(call root "$method" "${args[@]}")
  case $out in *AccessDenied*) fail "$method as root: $out" ;; esac
  out=$(call "$OUTSIDER" "$method" "${args[@]}")
  case $out in
    *"Error org.freedesktop.DBus.Error.AccessDenied: not authorized for org.basalt.update1.${ACTION[$method]} by polkit"*) ;;
    *) fail "$method as $OUTSIDER (not in $GROUP) was not denied: $out" ;;
  esac
done

# The CLI's view: exit 5 (refused) for the outsider; the member gets past authorization.
out=$(runuser -u "$OUTSIDER" -- env DBUS_SYSTEM_BUS_ADDRESS="$BUS" "$BASALT" update check 2>&1)
rc=$?
[ $rc = 5 ] || fail "basalt update check as $OUTSIDER: exit $rc, not 5: $out"
case $out in *"not authorized for org.basalt.update1.check"*) ;; *) fail "outsider's message: $out" ;; esac
out=$(runuser -u "$MEMBER" -- env DBUS_SYSTEM_BUS_ADDRESS="$BUS" "$BASALT" update check 2>&1)
case $out in *"not authorized"* | *"Access denied"*) fail "basalt update check as $MEMBER: $out" ;; esac

# pkcheck asks the same polkitd about a process of each user: 0 authorized; the outsider would
# need to authenticate (2) or is simply not authorized (1).
runuser -u "$MEMBER" -- sleep 60 &
member_runuser=$!
runuser -u "$OUTSIDER" -- sleep 60 &
outsider_runuser=$!
BUS_PIDS+=($member_runuser $outsider_runuser)
sleep 0.5
member_pid=$(pgrep -P $member_runuser -x sleep || echo $member_runuser)
outsider_pid=$(pgrep -P $outsider_runuser -x sleep || echo $outsider_runuser)
DBUS_SYSTEM_BUS_ADDRESS="$BUS" pkcheck --action-id org.basalt.update1.apply --process "$member_pid"
rc=$?
[ $rc = 0 ] || fail "pkcheck for $MEMBER: exit $rc"
DBUS_SYSTEM_BUS_ADDRESS="$BUS" pkcheck --action-id org.basalt.update1.apply --process "$outsider_pid"
rc=$?
[ $rc = 1 ] || [ $rc = 2 ] || fail "pkcheck for $OUTSIDER: exit $rc, not 1 or 2"

# Without polkit on the bus: non-root callers are refused and told why; root still works.
kill "$POLKIT_PID"
wait "$POLKIT_PID" 2>/dev/null
for i in $(seq 50); do
  busctl --address="$BUS" status org.freedesktop.PolicyKit1 >/dev/null 2>&1 || break
  sleep 0.1
done
out=$(call "$MEMBER" Check)
case $out in
  *"AccessDenied: polkit is unavailable"*) ;;
  *) fail "Check as $MEMBER without polkitd: $out" ;;
esac
out=$(call root Check)
case $out in *AccessDenied*) fail "Check as root without polkitd: $out" ;; esac

if [ $failures -ne 0 ]; then
  echo "--- daemon log"
  cat "$WORK/daemon.log"
  echo "--- polkitd log"
  cat "$WORK/polkitd.log"
  echo "$failures failures"
  exit 1
fi
echo "member of $GROUP allowed, $OUTSIDER denied, root allowed, polkit missing reported"
