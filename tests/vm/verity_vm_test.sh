#!/bin/bash
# `basalt verity open` and `close` for real, where device-mapper exists: the machine running the
# tests may have none (this sandbox and CI have none, so verity_blockdev_test can only check the
# clean error there). The fixture's guest kernel has it. The test writes 6 MiB of random data to
# a second disk; the guest's test init (fixture.sh) copies it to a file, puts a loop device over
# it, and runs the host's `basalt`: `verity format` (4 MiB of data, the tree after it), `open`,
# reads the mapped device, `close`; then `open` with a wrong root hash, and `open` again after
# one data block was changed. Here, on the host side: the guest's root hash is the one the
# host's `basalt verity format` (and veritysetup) compute for the same bytes, the mapped device
# reads back the data exactly, close removes the mapping, nothing can be read under the wrong
# root hash (the open itself succeeds: the kernel checks on read), and the changed block cannot
# be read while its neighbour can.
. "$(dirname "$0")/lib.sh"
vm_require
vm_workdir
vm_disk grub
head -c $((6 << 20)) /dev/urandom > "$W/verity.img"
cp "$W/verity.img" "$W/host.img"
root=$("$BIN/basalt" verity format "$W/host.img" --data-blocks 1024 --seed vm-verity)
veritysetup verify "$W/host.img" "$W/host.img" --hash-offset 4194304 "$root" ||
  { echo "FAIL: veritysetup does not accept the host's own format"; exit 1; }
data_sha=$(head -c 4194304 "$W/verity.img" | sha256sum | cut -d' ' -f1)

out=$(vm_boot 150 -drive file="$W/verity.img",format=raw,if=virtio,readonly=on)
show_console "$out"
check "$out" "^BASALT-TEST verity-format: rc=0 $root\$" "the guest's format gives the host's root hash"
check "$out" "^BASALT-TEST verity-open: rc=0 /dev/mapper/vmtest\$" "basalt verity open succeeds and names the device"
check "$out" "^BASALT-TEST verity-dm: vmtest CRYPT-VERITY-" "the mapping is a dm-verity target made by libcryptsetup"
check "$out" "^BASALT-TEST verity-read: $data_sha 4194304\$" "the mapped device reads back the 4 MiB of data exactly"
check "$out" "^BASALT-TEST verity-close: rc=0 \$" "basalt verity close succeeds"
check "$out" "^BASALT-TEST verity-after-close: gone\$" "close removed /dev/mapper/vmtest"
# The kernel checks hashes as blocks are read, not at activation: a wrong root hash maps, and
# then no block can be read.
check "$out" "^BASALT-TEST verity-wrong-hash: rc=0 /dev/mapper/vmwrong\$" "a wrong root hash maps (dm-verity checks on read)"
check "$out" "^BASALT-TEST verity-wrong-hash-read: refused\$" "nothing can be read under a wrong root hash"
check "$out" "^BASALT-TEST verity-corrupt-open: rc=0 /dev/mapper/vmcorrupt\$" "open with the right hash over a changed block succeeds (checked on read)"
check "$out" "^BASALT-TEST verity-corrupt-read: block 776 ok refused\$" "the changed block 777 cannot be read, block 776 can"
exit $fail
