#!/bin/bash
# Builds the VM scenarios' shared fixture once per ctest run (FIXTURES_SETUP), see lib.sh:
# a small merged-/usr tree (busybox-static and linux-image-cloud-amd64's kernel, both from
# apt-get download; the host's basalt with its libraries, for `basalt boot` inside the VM; a
# test init) and `basalt image build` of it with the grub and the systemd-boot backend.
set -euo pipefail
BIN=${BASALT_BIN_DIR:?}
SRC=${BASALT_SOURCE_DIR:?}
FIX=${BASALT_VM_FIXTURE:?}
for t in qemu-system-x86_64 depmod mkfs.erofs mkfs.ext4 mkfs.fat mcopy grub-mkimage; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -f /usr/lib/systemd/boot/efi/systemd-bootx64.efi ] || { echo "SKIP: no systemd-boot-efi"; exit 77; }
KTREE=$("$SRC/tests/fixtures/fetch-kernel.sh")
BUSYBOX=$("$SRC/tests/fixtures/fetch-busybox.sh")
KVER=$(ls "$KTREE/lib/modules")
rm -rf "$FIX"
mkdir -p "$FIX"
T=$FIX/tree

mkdir -p "$T"/usr/{bin,sbin,lib/modules,lib/x86_64-linux-gnu,lib64} "$T"/{boot,etc,tmp,var}
for l in bin sbin lib lib64; do ln -s "usr/$l" "$T/$l"; done
cp "$BUSYBOX" "$T/usr/bin/busybox"
ln -s busybox "$T/usr/bin/sh"
cp -a "$KTREE/lib/modules/$KVER" "$T/usr/lib/modules/"
depmod -b "$T" "$KVER"  # an installed Debian system has modules.dep; the .deb does not
cp "$KTREE/boot/vmlinuz-$KVER" "$T/boot/"
# The host's basalt and its libraries, so the test init can run `basalt boot` in the VM.
# Stripped: the VM needs the code, not the debug info.
strip -o "$T/usr/bin/basalt" "$BIN/basalt" 2>/dev/null || cp "$BIN/basalt" "$T/usr/bin/basalt"
ldd "$BIN/basalt" | awk '/=> \// {print $3}' | while read -r lib; do
  cp -L "$lib" "$T/usr/lib/x86_64-linux-gnu/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$T/usr/lib64/"
# The TPM transport basalt's TCTI loader opens at run time (dlopen, so ldd does not list it).
cp -L /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 "$T/usr/lib/x86_64-linux-gnu/"
echo "root:x:0:0:root:/root:/bin/sh" > "$T/etc/passwd"

# The test init: reports on the serial console what basalt-init set up and which slot runs,
# blesses the running slot from inside the VM (as systemd-bless-boot would after
# boot-complete.target), and powers off.
cat > "$T/usr/sbin/init" <<'INIT'
#!/bin/sh
export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
[ -e /dev/vda ] || mount -t devtmpfs dev /dev
echo "BASALT-TEST usr: $(grep ' /usr ' /proc/mounts)"
echo "BASALT-TEST dm: $(cat /sys/block/dm-0/dm/name) $(cat /sys/block/dm-0/dm/uuid)"
echo "BASALT-TEST cmdline: $(cat /proc/cmdline)"
echo "BASALT-TEST root-size: $(cat /sys/class/block/vda9/size)"
# Secure Boot state and the entry systemd-boot started, from the firmware's variables.
modprobe efivarfs 2>/dev/null
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
sb=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
[ -e "$sb" ] && echo "BASALT-TEST secureboot: $(od -An -tu1 "$sb" | tr -s ' ')"
sel=/sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
[ -e "$sel" ] && echo "BASALT-TEST entry: $(tail -c +5 "$sel" | tr -d '\000')"
modprobe nls_utf8 2>/dev/null
mount -t vfat /dev/vda1 /boot || echo "BASALT-TEST: cannot mount the ESP"
echo "BASALT-TEST status: $(basalt boot status --json 2>&1 | tr -d '\n ')"
# Measured boot (tests/vm/attest_vm_test.sh): with a TPM and a verifier's nonce passed through
# QEMU's fw_cfg, a quote over the PCRs with the firmware's event log; with a sealed secret, the
# secret unsealed with the signed PCR policy carried by the UKI that systemd-boot started (FAT
# matches names without regard to case; systemd-boot reports ids in lower case).
if [ -e /dev/tpmrm0 ]; then
  mount -t tmpfs tmpfs /tmp
  mkdir -p /sys/kernel/security && mount -t securityfs securityfs /sys/kernel/security
  modprobe qemu_fw_cfg 2>/dev/null
  fw=/sys/firmware/qemu_fw_cfg/by_name/opt/basalt
  echo "BASALT-TEST tpm: $(ls /dev/tpmrm0) log $(wc -c < /sys/kernel/security/tpm0/binary_bios_measurements)"
  for p in 4 7 11; do echo "BASALT-TEST pcr$p: $(cat /sys/class/tpm/tpm0/pcr-sha256/$p)"; done
  if [ -e $fw/nonce/raw ]; then
    echo "BASALT-TEST attest: $(basalt attest quote --nonce "$(cat $fw/nonce/raw)" 2>&1 | tr -d '\n')"
  fi
  if [ -e $fw/sealed/raw ] && [ -e "$sel" ]; then
    cat $fw/sealed/raw > /tmp/sealed
    # The selected id is the file's name when systemd-boot picked it; it has renamed the file
    # since (one try used: +3-0 became +2-1), so the entry is found by its name before "+".
    id=$(tail -c +5 "$sel" | tr -d '\000')
    base=${id%.efi}
    base=${base%%+*}
    uki=/boot/EFI/Linux/$(ls /boot/EFI/Linux | grep -i "^$base[+.]" | head -1)
    echo "BASALT-TEST unsealed: $(basalt attest unseal --blob /tmp/sealed --uki "$uki" 2>&1 | tr -d '\n')"
  fi
fi
echo "BASALT-TEST mark-good: $(basalt boot mark-good --json 2>&1 | tr -d '\n ')"
umount /boot
# The verity scenario (verity_vm_test.sh) attaches a second disk with 4 MiB of data and room for
# the hash tree: `basalt verity format/open/close` on a loop device over a file, on this kernel,
# which has device-mapper (the machine running the tests may not).
if [ -b /dev/vdb ]; then
  export DM_DISABLE_UDEV=1  # no udev here: libdevmapper makes the /dev/mapper nodes itself
  modprobe loop 2>/dev/null
  modprobe dm_verity 2>/dev/null
  mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp
  cat /dev/vdb > /tmp/verity.img
  loop=$(losetup -f) && losetup "$loop" /tmp/verity.img
  off="--hash-offset 4194304"
  hash=$(basalt verity format "$loop" --data-blocks 1024 --seed vm-verity 2>&1)
  echo "BASALT-TEST verity-format: rc=$? $hash"
  out=$(basalt verity open "$loop" vmtest $off --root-hash "$hash" 2>&1)
  echo "BASALT-TEST verity-open: rc=$? $out"
  for d in /sys/block/dm-*; do
    [ "$(cat "$d/dm/name")" = vmtest ] && echo "BASALT-TEST verity-dm: vmtest $(cat "$d/dm/uuid")"
  done
  echo "BASALT-TEST verity-read: $(sha256sum < /dev/mapper/vmtest | cut -d' ' -f1) $(wc -c < /dev/mapper/vmtest)"
  out=$(basalt verity close vmtest 2>&1)
  echo "BASALT-TEST verity-close: rc=$? $out"
  [ -e /dev/mapper/vmtest ] && echo "BASALT-TEST verity-after-close: still there" ||
    echo "BASALT-TEST verity-after-close: gone"
  case $hash in 0*) wrong=1${hash#?} ;; *) wrong=0${hash#?} ;; esac
  out=$(basalt verity open "$loop" vmwrong $off --root-hash "$wrong" 2>&1)
  echo "BASALT-TEST verity-wrong-hash: rc=$? $out"
  if [ -e /dev/mapper/vmwrong ]; then
    dd if=/dev/mapper/vmwrong of=/dev/null bs=4096 2>/dev/null && r=ok || r=refused
    echo "BASALT-TEST verity-wrong-hash-read: $r"
    basalt verity close vmwrong
  fi
  # One data block changed under the right root hash: the kernel refuses to read it.
  printf BASALT-CORRUPTED | dd of="$loop" bs=1 seek=$((777 * 4096 + 5)) conv=notrunc,fsync 2>/dev/null
  out=$(basalt verity open "$loop" vmcorrupt $off --root-hash "$hash" 2>&1)
  echo "BASALT-TEST verity-corrupt-open: rc=$? $out"
  if [ -e /dev/mapper/vmcorrupt ]; then
    dd if=/dev/mapper/vmcorrupt of=/dev/null bs=4096 skip=776 count=1 2>/dev/null && r=ok || r=refused
    dd if=/dev/mapper/vmcorrupt of=/dev/null bs=4096 skip=777 count=1 2>/dev/null && r="$r ok" || r="$r refused"
    echo "BASALT-TEST verity-corrupt-read: block 776 $r"
    basalt verity close vmcorrupt
  fi
  losetup -d "$loop"
fi
sync
poweroff -f
INIT
chmod 755 "$T/usr/sbin/init"

for backend in grub systemd-boot; do
  "$BIN/basalt" image build --rootfs "$T" --output "$FIX/$backend" --boot-backend "$backend" \
    --version 1.0 --seed vm-fixture --source-date-epoch 1700000000 \
    --kernel-cmdline "console=ttyS0 panic=-1" \
    --usr-size 256MiB --esp-size 128MiB --oem-size 8MiB --root-size 32MiB --json >/dev/null
done
# The uki backend under Secure Boot (tests/vm/uki_vm_test.sh): our own PK/KEK/db, the image
# signed with db, and a copy of OVMF's empty variable store with the three enrolled. Enrolment
# is what an operator does on a machine in setup mode: a boot (here a direct kernel boot of a
# tiny initramfs) writes db, KEK and PK (last: it ends setup mode) as authenticated variables
# through efivarfs. Without sbsigntool or efitools this part is left out and the uki scenario
# says so.
if command -v sbsign >/dev/null && command -v sign-efi-sig-list >/dev/null &&
   [ -f /usr/share/OVMF/OVMF_CODE_4M.secboot.fd ]; then
  K=$FIX/sb-keys
  "$BIN/basalt" keys secure-boot --output "$K" --common-name "Basalt VM test" >/dev/null
  # The release's PCR policy key (measured boot): each UKI carries its public half and signed
  # policies for its own PCR 11 values.
  "$BIN/basalt" keys pcr-policy --output "$FIX/pcr-keys" >/dev/null
  "$BIN/basalt" image build --rootfs "$T" --output "$FIX/uki" --boot-backend uki \
    --secure-boot-key "$K/db.key" --secure-boot-cert "$K/db.crt" \
    --pcr-policy-key "$FIX/pcr-keys/tpm2-pcr-private-key.pem" \
    --version 1.0 --seed vm-fixture --source-date-epoch 1700000000 \
    --kernel-cmdline "console=ttyS0 panic=-1" \
    --usr-size 256MiB --esp-size 128MiB --oem-size 8MiB --root-size 32MiB --json >/dev/null
  E=$FIX/enroll
  mkdir -p "$E/bin" "$E/keys" "$E/proc" "$E/sys"
  cp "$BUSYBOX" "$E/bin/busybox"
  cp "$(find "$T/usr/lib/modules/$KVER" -name 'efivarfs.ko*' | head -1)" "$E/efivarfs.ko"
  for n in PK KEK db; do
    # efivarfs takes the 4-byte attributes (NV|BS|RT|time-based authenticated) and the
    # authenticated update in one write.
    { printf '\x27\x00\x00\x00'; cat "$K/$n.auth"; } > "$E/keys/$n.var"
  done
  cat > "$E/init" <<'ENROLL'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox insmod /efivarfs.ko
V=/sys/firmware/efi/efivars
/bin/busybox mount -t efivarfs efivarfs $V
for v in db-d719b2cb-3d3a-4596-a3bc-dad00e67656f KEK-8be4df61-93ca-11d2-aa0d-00e098032b8c \
         PK-8be4df61-93ca-11d2-aa0d-00e098032b8c; do
  /bin/busybox dd if=/keys/${v%%-*}.var of=$V/$v bs=1M 2>/dev/null &&
    echo "ENROLL ${v%%-*} ok" || echo "ENROLL ${v%%-*} failed"
done
echo "ENROLL setup-mode: $(/bin/busybox od -An -tu1 $V/SetupMode-8be4df61-93ca-11d2-aa0d-00e098032b8c)"
/bin/busybox poweroff -f
ENROLL
  chmod 755 "$E/init"
  (cd "$E" && find . | cpio -o -H newc --quiet) > "$FIX/enroll.cpio"
  cp /usr/share/OVMF/OVMF_VARS_4M.fd "$FIX/uki-vars.fd"
  out=$(timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -nographic -machine q35,smm=on \
    -global driver=cfi.pflash01,property=secure,value=on \
    -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
    -drive if=pflash,format=raw,unit=1,file="$FIX/uki-vars.fd" \
    -kernel "$T/boot/vmlinuz-$KVER" -initrd "$FIX/enroll.cpio" -append "console=ttyS0 panic=-1" \
    </dev/null 2>&1 | tr -d '\r' || true)
  grep ENROLL <<<"$out"
  # SetupMode is 0 (user mode) once PK is in: from now on the firmware enforces the db.
  grep -qE "ENROLL setup-mode: +[0-9]+ +0 +0 +0 +0" <<<"$out" ||
    { echo "FAIL: enrolling our Secure Boot keys into OVMF"; exit 1; }
  touch "$FIX/.uki-complete"
  # The uki hosts' TPM (measured boot, tests/vm/uki_*_test.sh): one swtpm state that every
  # scenario copies, so all have the same endorsement and storage seeds. Provisioned as an
  # operator would, before the host's first boot: its attestation key enrolled (ak.pem) and a
  # secret sealed to the release key's PCR policy (sealed), which no boot has to know about.
  if command -v swtpm >/dev/null; then
    S=$FIX/tpm
    mkdir -p "$S"
    for attempt in 1 2 3 4 5; do
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      swtpm socket --tpm2 --tpmstate dir="$S" --flags not-need-init,startup-clear --daemon \
        --server type=tcp,port="$port",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --pid file="$S/pid" && break
    done
    tcti="swtpm:host=127.0.0.1,port=$port"
    "$BIN/basalt" attest ak --tcti "$tcti" --output "$FIX/ak.pem"
    printf 'basalt-vm-secret-%s' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" > "$FIX/secret"
    "$BIN/basalt" attest seal --tcti "$tcti" --input "$FIX/secret" --output "$FIX/sealed" \
      --policy-key "$FIX/pcr-keys/tpm2-pcr-public-key.pem" >/dev/null
    kill "$(cat "$S/pid")"
    while [ -e "$S/pid" ] && kill -0 "$(cat "$S/pid")" 2>/dev/null; do sleep 0.1; done
    rm -f "$S/pid"
    touch "$FIX/.tpm-complete"
  fi
fi
touch "$FIX/.complete"
echo "fixture built in $FIX (kernel $KVER)"
