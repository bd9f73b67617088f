#!/bin/sh
# write_root_tgz.sh DISK < root.tar.gz
#
# For the deploy runner, in the ephemeral environment (busybox sh; the initramfs carries mke2fs,
# extlinux and syslinux's mbr.bin, nodes/bootimages/tools.py; ext4 is built into Debian's
# kernels): deploy a root filesystem tarball (gzip-compressed tar on stdin) to the whole disk
# DISK, as MAAS does with root-tgz images, with a boot loader that does not come from the
# tarball:
#     sector 0     syslinux's mbr.bin + an MBR partition table with one partition, type 83,
#                  bootable, from 1 MiB to the end of the disk (at most 2 TiB: MBR's limit)
#     partition 1  ext4 labelled metal-root with a fresh UUID, the tarball unpacked on it;
#                  extlinux in its boot sector and /boot/extlinux, whose extlinux.conf boots the
#                  tarball's newest /boot/vmlinuz-* (its initrd.img-* too, when there is one)
#                  with root=UUID=... ro and a serial console; /etc/fstab gets the root line
#                  when the tarball has /etc and no root entry.
# The old partition table, signatures and GPT backup (the first and last MiB) are zeroed first.
# All of stdin is read, even when tar stops early, so a reader of the same stream (the deploy
# runner's second sha256) sees every byte. Exit 0 when the disk is bootable, 1 (with
# "metal: write_root_tgz: ..." on stderr) otherwise. METAL_MBR_BIN overrides mbr.bin's path.
set -u
set -o pipefail
MBR_BIN="${METAL_MBR_BIN:-/usr/lib/syslinux/mbr/mbr.bin}"
START=2048         # sectors: the partition starts at 1 MiB
MAX_SECTORS=4294967295
MIN_SECTORS=131072  # a 64 MiB disk at least
say() { echo "metal: write_root_tgz: $*" >&2; }
. "${METAL_LIB:-/lib/metal}/disk.sh" || exit 1
fail() { say "$*"; cat >/dev/null; exit 1; }

# Four bytes, little endian, of the number $1 (printf octal escapes: busybox has no \x).
le32() {
    n=$1
    for i in 1 2 3 4; do
        printf "\\$(printf %03o $((n & 255)))"
        n=$((n >> 8))
    done
}

# Sector 0 after the boot code: disk signature, partition entry 1 (bootable, CHS "use LBA",
# type 83, start, size), three empty entries, 55 AA.
partition_table() {
    le32 "$1"
    printf '\000\000\200\376\377\377\203\376\377\377'
    le32 "$START"
    le32 "$2"
    dd if=/dev/zero bs=48 count=1 2>/dev/null
    printf '\125\252'
}

# The newest kernel under $1/boot (relative to $1), and the initrd of the same version or ''.
find_kernel() {
    kernel=$(cd "$1" && ls -1 boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$kernel" ] || return 1
    initrd="boot/initrd.img-${kernel#boot/vmlinuz-}"
    [ -f "$1/$initrd" ] || initrd=''
}

write_extlinux_conf() {  # ROOT UUID
    {
        printf 'SERIAL 0 115200\nDEFAULT metal\nPROMPT 0\nTIMEOUT 0\nLABEL metal\n'
        printf '  LINUX /%s\n' "$kernel"
        [ -n "$initrd" ] && printf '  INITRD /%s\n' "$initrd"
        printf '  APPEND root=UUID=%s ro console=tty0 console=ttyS0,115200\n' "$2"
    } > "$1/boot/extlinux/extlinux.conf"
}

add_fstab_root() {  # ROOT UUID: a root line in etc/fstab, unless it has one
    [ -d "$1/etc" ] || return 0
    awk '$1 !~ /^#/ && $2 == "/" { found = 1 } END { exit !found }' "$1/etc/fstab" 2>/dev/null \
        && return 0
    printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$2" >> "$1/etc/fstab"
}

partition_disk() {  # DISK SECTORS
    size=$(($2 - START))
    [ "$size" -le "$MAX_SECTORS" ] || size=$MAX_SECTORS
    dd if=/dev/zero of="$1" bs=1M count=1 conv=notrunc 2>/dev/null || return 1
    dd if=/dev/zero of="$1" bs=512 seek=$(($2 - 2048)) count=2048 conv=notrunc 2>/dev/null \
        || return 1
    dd if="$MBR_BIN" of="$1" bs=440 count=1 conv=notrunc 2>/dev/null || return 1
    signature=$(od -A n -N 4 -t u4 /dev/urandom | tr -d ' ')
    partition_table "$signature" "$size" | dd of="$1" bs=1 seek=440 conv=notrunc 2>/dev/null \
        || return 1
    sync
    blockdev --rereadpt "$1"
}

install_boot_loader() {  # MOUNTPOINT UUID
    find_kernel "$1" || { say "the tarball has no /boot/vmlinuz-*: nothing to boot"; return 1; }
    mkdir -p "$1/boot/extlinux" || return 1
    write_extlinux_conf "$1" "$2"
    add_fstab_root "$1" "$2"
    extlinux --install "$1/boot/extlinux" >/dev/null || return 1
    say "boots /$kernel${initrd:+ with /$initrd} from UUID=$2"
}

[ $# -eq 1 ] || fail "usage: write_root_tgz.sh DISK < root.tar.gz"
disk=$(readlink -f "$1")
[ -b "$disk" ] || fail "$1 is not a block device"
[ -e "/sys/class/block/${disk##*/}/partition" ] && fail "$disk is a partition, not a whole disk"
[ -f "$MBR_BIN" ] || fail "no boot code at $MBR_BIN"
sectors=$(blockdev --getsz "$disk") || fail "cannot read the size of $disk"
[ "$sectors" -ge "$MIN_SECTORS" ] || fail "$disk is too small ($sectors sectors)"
partition_disk "$disk" "$sectors" || fail "cannot write the partition table of $disk"
part=$(partition_node "$disk" 1) || fail "no partition 1 on $disk after re-reading its table"
uuid=$(cat /proc/sys/kernel/random/uuid)
# By path: busybox's sh runs its own mke2fs applet (no ext4) for a bare name.
made=$(/sbin/mke2fs -t ext4 -F -q -L metal-root -U "$uuid" "$part" 2>&1) \
    || fail "mke2fs $part failed: $(echo "$made" | tail -n 1)"
mnt=/tmp/metal-root.$$
mkdir -p "$mnt" && mount -t ext4 "$part" "$mnt" || fail "cannot mount $part"
gunzip -c | tar -x -f - -C "$mnt"
unpacked=$?
cat >/dev/null  # the rest of the stream (tar stops at its end-of-archive blocks)
[ "$unpacked" = 0 ] && install_boot_loader "$mnt" "$uuid"
done=$?
[ "$unpacked" = 0 ] || say "unpacking the tarball on $part failed"
sync
umount "$mnt" && rmdir "$mnt"
[ "$done" = 0 ] || fail "$disk is not bootable"
say "root tarball written on $part (ext4, UUID=$uuid)"
