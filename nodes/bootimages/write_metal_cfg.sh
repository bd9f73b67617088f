#!/bin/sh
# write_metal_cfg.sh DEVICE REGION SYSTEM_ID TOKEN
#
# For the deploy runner, in the ephemeral environment (busybox sh; the ephemeral initramfs has
# it on the PATH and holds the vfat and nls modules, ext4 is built into Debian's kernels): after
# writing a deployable image to DEVICE, write metal.cfg on the image's boot partition for the
# deployed OS's first boot (the test OS's /init reads it):
#     region=REGION (an http(s) URL; a missing final / is added)
#     system_id=SYSTEM_ID
#     token=TOKEN
# DEVICE is the whole disk (/dev/vda, /dev/sda, /dev/nvme0n1: its partition table is re-read;
# the boot partition is the MBR partition flagged bootable, else partition 1) or a partition.
# The partition is mounted (vfat, else ext4), metal.cfg written by rename, a stale metal.done
# removed, and it is unmounted. Exit 0 when written, 1 (with "metal: write_metal_cfg: ..." on
# stderr) otherwise.
set -u
say() { echo "metal: write_metal_cfg: $*" >&2; }
fail() { say "$*"; exit 1; }

# Values are one word each: no whitespace (a newline would add a line to metal.cfg).
one_word() { [ -n "$1" ] && [ "$(printf '%s' "$1" | tr -d ' \t\r\n')" = "$1" ]; }

# The number of the first MBR partition flagged bootable (0x80) on disk $1, else 1.
boot_partition_number() {
    set -- $(dd if="$1" bs=1 skip=446 count=64 2>/dev/null | od -A n -v -t x1)
    n=1
    while [ $# -ge 16 ]; do
        [ "$1" = 80 ] && { echo "$n"; return; }
        shift 16
        n=$((n + 1))
    done
    echo 1
}

# The device node of partition number $2 of disk $1 (waits for it up to 10 s), or ''.
partition_of() {
    name=${1##*/}
    for i in 1 2 3 4 5 6 7 8 9 10; do
        for dir in /sys/class/block/"$name"/"$name"*; do
            [ "$(cat "$dir/partition" 2>/dev/null)" = "$2" ] && [ -b "/dev/${dir##*/}" ] \
                && { echo "/dev/${dir##*/}"; return; }
        done
        sleep 1
    done
}

[ $# -eq 4 ] || fail "usage: write_metal_cfg.sh DEVICE REGION SYSTEM_ID TOKEN"
device=$1 region=$2 system_id=$3 token=$4
case "$region" in http://?*|https://?*) ;; *) fail "REGION must be an http(s) URL: $region" ;; esac
case "$region" in */) ;; *) region="$region/" ;; esac
for value in "$region" "$system_id" "$token"; do
    one_word "$value" || fail "REGION, SYSTEM_ID and TOKEN must be non-empty, without spaces"
done
[ -b "$device" ] || fail "$device is not a block device"
device=$(readlink -f "$device")  # /dev/disk/by-id/... to /dev/sda: sysfs knows the latter

if [ -e "/sys/class/block/${device##*/}/partition" ]; then
    part=$device
else
    blockdev --rereadpt "$device" 2>/dev/null || say "could not re-read the partition table"
    number=$(boot_partition_number "$device")
    part=$(partition_of "$device" "$number")
    [ -n "$part" ] || fail "no partition $number on $device"
fi

for module in vfat nls_cp437 nls_ascii nls_utf8; do modprobe -q "$module" 2>/dev/null; done
mnt=/tmp/metal-cfg.$$
mkdir -p "$mnt" || fail "cannot make $mnt"
if ! mount -t vfat "$part" "$mnt" 2>/dev/null && ! mount -t ext4 "$part" "$mnt" 2>/dev/null; then
    rmdir "$mnt"
    fail "cannot mount $part (vfat or ext4)"
fi
umask 077
printf 'region=%s\nsystem_id=%s\ntoken=%s\n' "$region" "$system_id" "$token" \
    > "$mnt/metal.cfg.tmp" && mv -f "$mnt/metal.cfg.tmp" "$mnt/metal.cfg" \
    && rm -f "$mnt/metal.done"
written=$?
sync
umount "$mnt" && rmdir "$mnt"
[ "$written" = 0 ] || fail "could not write metal.cfg on $part"
say "metal.cfg written on $part (region=$region system_id=$system_id)"
