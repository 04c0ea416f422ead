# Builds reference-OS images (image/reference/) for the end-to-end scenario and the demo (sourced).
# Needs: BIN (basalt binaries), SRC (source tree), BUILD (CMake binary dir), W (work dir).
set -euo pipefail

# ref_trees: prints the cached v1/v2 tree directory (debootstrap on first use, ~5 min).
ref_trees() { "$SRC/image/reference/make-trees.sh"; }

# ref_tree TREES VERSION OUT KEYS CONF: a copy of TREES/v1 (VERSION 1.x) or v2 (2.x and later)
# with Basalt installed, IMAGE_VERSION in /usr/lib/os-release, and the serial status reporter.
ref_tree() {
  local trees=$1 version=$2 out=$3 keys=$4 conf=$5 base=${REF_LATER_BASE:-v2}
  case $version in 1.*) base=v1 ;; esac  # REF_LATER_BASE=v1: later versions differ only a little
  rm -rf "$out"
  cp -a "$trees/$base" "$out"
  "$SRC/image/reference/install-basalt.sh" "$out" "$BUILD" "$keys" "$conf"
  # A changed file in /usr, as every real update has: the image's own version.
  sed -i '/^IMAGE_VERSION=/d' "$out/usr/lib/os-release"
  echo "IMAGE_VERSION=$version" >> "$out/usr/lib/os-release"
  # Test/demo only: mirror what runs and basalt-updated's state onto the serial console: one
  # BASALT-BOOT line per boot (image version, boot status), then one BASALT-STATUS JSON per change.
  cat > "$out/usr/libexec/basalt-serial-status" <<'SH'
#!/bin/sh
. /usr/lib/os-release
if [ ! -e /run/basalt-serial-boot ]; then
  # The daemon may be writing the ESP (mtools holds a lock) right then: try a few times, and
  # say why if it never works.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    boot=$(/usr/bin/basalt boot status --json 2>/tmp/boot-status.err) && break
    sleep 2
  done
  [ -n "$boot" ] || boot="{\"error\": \"$(tr -d '\n"' < /tmp/boot-status.err)\"}"
  echo "BASALT-BOOT $IMAGE_VERSION $(echo "$boot" | tr -d '\n')" > /dev/ttyS0
  : > /run/basalt-serial-boot
  # Once start-up is over, show why any unit failed (a failed health check is expected in the
  # broken-release step; anything else is a clue when a step fails).
  (
    systemctl is-system-running --wait >/dev/null 2>&1
    for u in $(systemctl --failed --plain --no-legend | cut -d' ' -f1); do
      journalctl -b -u "$u" -n 10 --no-pager -o cat | sed "s/^/BASALT-LOG $u: /"
    done > /dev/ttyS0
  ) &
fi
/usr/bin/basalt update watch --json | sed -u 's/^/BASALT-STATUS /' > /dev/ttyS0
# watch ended: the daemon is gone. Show why, then let systemd restart this reporter.
journalctl -b -u basalt-updated.service -n 15 --no-pager -o cat | sed 's/^/BASALT-LOG /' > /dev/ttyS0
exit 1
SH
  chmod 0755 "$out/usr/libexec/basalt-serial-status"
  cat > "$out/etc/systemd/system/basalt-serial-status.service" <<'UNIT'
[Unit]
Description=Print basalt update status on the serial console (tests, demo)
After=basalt-updated.service
Wants=basalt-updated.service

[Service]
ExecStart=/usr/libexec/basalt-serial-status
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
  # No login prompt on the serial console: it would share lines with the reports.
  ln -sfn /dev/null "$out/etc/systemd/system/serial-getty@ttyS0.service"
  ln -sfn /etc/systemd/system/basalt-serial-status.service \
    "$out/etc/systemd/system/multi-user.target.wants/basalt-serial-status.service"
}

# ref_nginx_start WWW DIR: serves WWW on a free 127.0.0.1 port with its access log in
# DIR/access.log; sets NGINX_PORT and NGINX_PID. The port is chosen free, but another server
# (a test running beside this one) may take it before nginx binds it: a token only this nginx
# serves proves that the server answering on the port is this one.
ref_nginx_start() {
  local www=$1 dir=$2 port token="basalt-e2e-$$-$RANDOM"
  mkdir -p "$dir/tmp"
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
$([ "$(id -u)" = 0 ] && echo "user root root;")
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 64; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $www;
    location = /.basalt-test-server { access_log off; return 200 "$token"; }
  }
}
CONF
    nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    for _ in $(seq 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break  # could not bind: try another port
      if [ "$(curl -s "http://127.0.0.1:$port/.basalt-test-server")" = "$token" ]; then
        NGINX_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    kill "$NGINX_PID" 2>/dev/null || true
  done
  echo "reference: nginx did not start (see $dir/error.log)" >&2
  return 1
}

# ref_vm_start DISK VARS SERIAL PORT: boots DISK under OVMF in the background (QEMU_PID). The guest
# reaches only 127.0.0.1:PORT, as http://10.0.2.100/. -no-reboot: a guest reboot ends QEMU, so
# the caller sees every reboot and can look at the disk in between. virtio-rng, as cloud VMs have:
# without it a TCG guest's getrandom() can block services (and OpenSSL) for minutes after boot.
ref_vm_start() {
  local disk=$1 vars=$2 serial=$3 port=$4
  qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
    -drive if=pflash,format=raw,file="$vars" \
    -drive file="$disk",format=raw,if=virtio \
    -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:$port" \
    -device virtio-net-pci,netdev=n0 -device virtio-rng-pci </dev/null >>"$serial" 2>&1 &
  QEMU_PID=$!
}

# ref_lines SERIAL FROM_LINE: the serial console after FROM_LINE, normalised: no CR or NUL, and
# each report starts its line (kernel or systemd output may precede it on the same line). Every
# reader of the console goes through this, so no check can miss a report for its prefix.
ref_lines() {
  tail -n +"$(($2 + 1))" "$1" | tr -d '\r\000' | sed 's/.*BASALT-/BASALT-/'
}

# ref_wait SERIAL FROM_LINE REGEX TIMEOUT [BAD_REGEX]: waits until a line after FROM_LINE of
# SERIAL matches REGEX and prints it; fails when QEMU exits first or the timeout passes. With
# BAD_REGEX, a line matching it before REGEX matches ends the wait at once with status 2 (the
# line is printed on stderr): a step fails as soon as the guest does what it must not.
ref_wait() {
  local serial=$1 from=$2 re=$3 timeout=$4 bad=${5:-} line alive
  for _ in $(seq "$timeout"); do
    # Liveness first: a line written just before QEMU exited still counts.
    kill -0 "$QEMU_PID" 2>/dev/null && alive=1 || alive=0
    if [ -n "$bad" ]; then
      line=$(ref_lines "$serial" "$from" | grep -a -E -m1 -- "$re|$bad" || true)
      if [ -n "$line" ] && ! grep -q -a -E -- "$re" <<<"$line"; then
        echo "reference: /$bad/ came before /$re/: $line" >&2
        return 2
      fi
    else
      line=$(ref_lines "$serial" "$from" | grep -a -E -m1 -- "$re" || true)
    fi
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    [ $alive = 1 ] || { echo "reference: QEMU exited while waiting for /$re/" >&2; return 1; }
    sleep 1
  done
  echo "reference: no /$re/ on the serial console within ${timeout}s" >&2
  return 1
}

# ref_last_status SERIAL FROM_LINE: the JSON of the last BASALT-STATUS line after FROM_LINE.
ref_last_status() {
  ref_lines "$1" "$2" | grep -a '^BASALT-STATUS ' | tail -1 | cut -d' ' -f2-
}

# ref_expect JSON WHAT KEY=VALUE...: every KEY of the JSON object (a.b for nested objects) has
# exactly VALUE (strings as they are, anything else as JSON: 0, true, ["3.0.0"]); otherwise
# prints what differs and fails. KEY~=REGEX matches the value against a Python regex instead.
ref_expect() {
  local json=$1 what=$2
  shift 2
  python3 - "$json" "$what" "$@" <<'PY' >&2
import json, re, sys
doc, what, checks = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    d = json.loads(doc)
except ValueError:
    print(f"reference: {what}: not JSON: {doc!r}")
    sys.exit(1)
bad = []
for c in checks:
    regex = "~=" in c
    key, want = c.split("~=" if regex else "=", 1)
    v = d
    for part in key.split("."):
        v = v.get(part, "<absent>") if isinstance(v, dict) else "<absent>"
    got = v if isinstance(v, str) else json.dumps(v)
    if (regex and not re.search(want, got)) or (not regex and got != want):
        bad.append(f"{key} is {got!r}, expected {'/' + want + '/' if regex else repr(want)}")
if bad:
    print(f"reference: {what}: " + "; ".join(bad) + f"\n  in {doc}")
    sys.exit(1)
PY
}

# ref_wait_staged SERIAL FROM_LINE VERSION TIMEOUT: waits until the guest has staged VERSION and
# rebooted (QEMU ended). REBOOT_STRATEGY=reboot reboots at once, and systemd may stop the
# reporter before it prints updated-need-reboot; then the last report must show VERSION's run
# finalizing (busy or not: on a loaded machine the last report can be the one from the start of
# finalizing). The next boot's BASALT-BOOT line, which the caller checks, is the proof that the
# slot was staged: a run that died while finalizing boots the old version again.
ref_wait_staged() {
  local serial=$1 from=$2 version=$3 timeout=$4 st state
  if ! st=$(ref_wait "$serial" "$from" '^BASALT-STATUS .*"state":"updated-need-reboot"' "$timeout"); then
    kill -0 "$QEMU_PID" 2>/dev/null && return 1
    st=BASALT-STATUS\ $(ref_last_status "$serial" "$from")
    state=$(echo "${st#* }" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null) || state=?
    case $state in
      finalizing | updated-need-reboot) ;;
      *) echo "reference: the guest went down before staging $version (last report: ${st#* })" >&2; return 1 ;;
    esac
  fi
  st=${st#* }
  local next
  next=$(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_version"])')
  [ "$next" = "$version" ] || { echo "reference: staged $next, not $version" >&2; return 1; }
  ref_wait_exit 120 || return 1
  echo "$st"
}

# ref_wait_exit TIMEOUT: waits for QEMU to end (the guest rebooted or powered off).
ref_wait_exit() {
  for _ in $(seq "$1"); do
    kill -0 "$QEMU_PID" 2>/dev/null || { wait "$QEMU_PID" || true; return 0; }
    sleep 1
  done
  echo "reference: the guest did not reboot within $1 s" >&2
  return 1
}
