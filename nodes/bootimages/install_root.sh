#!/bin/sh
# install_root.sh DISK PLAN < root.tar.zst
#
# For the deploy runner, in the ephemeral environment (busybox sh; the initramfs carries sfdisk,
# mkfs.fat, mke2fs, lvm, zstd and GNU tar, nodes/bootimages/tools.py): install a real OS's root
# tarball (zstd-compressed tar on stdin, as nodes/bootimages/debian.py builds it) on the whole
# disk DISK with the storage layout of PLAN, a file of shell variables the region rendered
# (nodes/storage_layouts.plan_shell):
#     FIRMWARE   bios | uefi
#     TABLE      the GPT for sfdisk (the boot partition first, then the root or LVM PV)
#     ESP        the EFI system partition's number ('' on BIOS)
#     ROOT_PART  the number of the ext4 root partition ('' when the root is a logical volume)
#     PV_PART VG LV   the LVM physical volume's partition, its volume group and root volume
# Steps: partition (old signatures wiped), make the file systems, unpack the tarball (xattrs,
# numeric owners), write /etc/fstab by UUID, carry the console= arguments of this kernel into
# GRUB's defaults, install the boot loader chrooted into the new root with its own grub-install
# (i386-pc on the disk for BIOS; shim and signed GRUB on the ESP, at \EFI\debian and at the
# removable path \EFI\BOOT\BOOTX64.EFI, for UEFI) and grub-mkconfig, add METAL_CLOUD_CFG (when
# set) as /etc/cloud/cloud.cfg.d/90_metal_maas.cfg (mode 600: it holds the OS's credential), and
# verify what was written. All of stdin is read, even on failure, so a reader of the same stream
# (the deploy runner's second sha256) sees every byte. Exit 0 when the disk is bootable, 1 (with
# "metal: install_root: ..." on stderr) otherwise.
set -u
set -o pipefail
# No udev in the ephemeral environment: lvm makes its device nodes itself.
LVM_CONFIG='activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
devices { obtain_device_list_from_udev = 0 }'
target='' mounted='' uuid_link='' VG=''
say() { echo "metal: install_root: $*" >&2; }
. "${METAL_LIB:-/lib/metal}/disk.sh" || exit 1

fail() {
    say "$*"
    cleanup
    cat >/dev/null
    exit 1
}

# Unmount what was mounted (the last first), deactivate the volume group, drop the by-uuid link.
cleanup() {
    for mnt in $mounted; do umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null; done
    mounted=''
    [ -n "$target" ] && rmdir "$target" 2>/dev/null
    [ -n "$VG" ] && lvm_do vgchange -an "$VG" >/dev/null 2>&1
    [ -n "$uuid_link" ] && rm -f "$uuid_link"
    uuid_link=''
    sync
}

lvm_do() {  # COMMAND ARGS...
    command=$1
    shift
    lvm "$command" --config "$LVM_CONFIG" "$@"
}

mount_at() {  # MOUNT ARGS... DIR: mount and remember it, the newest first
    eval "dir=\${$#}"
    mount "$@" || return 1
    mounted="$dir $mounted"
}

partition() {  # the GPT, the old one's first and last MiB zeroed first
    dd if=/dev/zero of="$disk" bs=1M count=1 conv=notrunc 2>/dev/null || return 1
    dd if=/dev/zero of="$disk" bs=512 seek=$((sectors - 2048)) count=2048 conv=notrunc \
        2>/dev/null || return 1
    printf '%s\n' "$TABLE" | sfdisk --quiet --wipe always "$disk" >/dev/null
}

# new_partition N: the node of partition N with its first MiB zeroed (old signatures).
new_partition() {
    node=$(partition_node "$disk" "$1") || { say "no partition $1"; return 1; }
    dd if=/dev/zero of="$node" bs=1M count=1 conv=notrunc 2>/dev/null || return 1
    echo "$node"
}

make_file_systems() {  # sets esp, esp_uuid, root, root_uuid
    if [ -n "$ESP" ]; then
        esp=$(new_partition "$ESP") || return 1
        volume_id=$(od -A n -N 4 -t x4 /dev/urandom | tr -d ' ' | tr a-f A-F)
        esp_uuid="$(echo "$volume_id" | cut -c1-4)-$(echo "$volume_id" | cut -c5-8)"
        /sbin/mkfs.fat -F 32 -n EFI -i "$volume_id" "$esp" >/dev/null || return 1
    fi
    if [ -n "$PV_PART" ]; then
        pv=$(new_partition "$PV_PART") || return 1
        modprobe -q dm_mod 2>/dev/null  # built in on some kernels
        lvm_do pvcreate -ff -y "$pv" >/dev/null || return 1
        lvm_do vgcreate -y "$VG" "$pv" >/dev/null || return 1
        lvm_do lvcreate -y -Wy -Zy -l 100%FREE -n "$LV" "$VG" >/dev/null || return 1
        root="/dev/mapper/$VG-$LV"
    else
        root=$(new_partition "$ROOT_PART") || return 1
    fi
    root_uuid=$(cat /proc/sys/kernel/random/uuid)
    /sbin/mke2fs -t ext4 -F -q -L metal-root -U "$root_uuid" "$root" || return 1
}

write_fstab() {
    {
        echo "# Written by the metal deploy runner: the file systems of the $LAYOUT layout."
        echo "UUID=$root_uuid / ext4 errors=remount-ro 0 1"
        if [ -n "$ESP" ]; then echo "UUID=$esp_uuid /boot/efi vfat umask=0077 0 1"; fi
    } > "$target/etc/fstab"
}

# GRUB's defaults: this kernel's console= arguments (as MAAS's curtin carries them), no menu.
write_grub_defaults() {
    consoles=''
    for arg in $(cat /proc/cmdline 2>/dev/null); do
        case "$arg" in console=*) consoles="$consoles $arg" ;; esac
    done
    mkdir -p "$target/etc/default/grub.d"
    {
        echo "GRUB_TIMEOUT=0"
        echo "GRUB_CMDLINE_LINUX=\"${consoles# }\""
        case "$consoles" in
            *ttyS*) echo 'GRUB_TERMINAL="console serial"'
                    echo 'GRUB_SERIAL_COMMAND="serial --speed=115200"' ;;
        esac
    } > "$target/etc/default/grub.d/90-metal.cfg"
}

in_target() { chroot "$target" "$@"; }

install_boot_loader() {
    for fs in dev proc sys; do mount_at -o bind "/$fs" "$target/$fs" || return 1; done
    # grub-mkconfig names the root by UUID only when udev's link exists (none here).
    if [ ! -e "/dev/disk/by-uuid/$root_uuid" ]; then
        mkdir -p /dev/disk/by-uuid && ln -s "$root" "/dev/disk/by-uuid/$root_uuid" \
            && uuid_link="/dev/disk/by-uuid/$root_uuid"
    fi
    if [ "$FIRMWARE" = uefi ]; then
        for where in "--bootloader-id=debian" "--removable"; do
            in_target grub-install --target=x86_64-efi --efi-directory=/boot/efi \
                --uefi-secure-boot --no-nvram "$where" 2>&1 | tail -n 3 >&2 || return 1
        done
    else
        in_target grub-install --target=i386-pc "$disk" 2>&1 | tail -n 3 >&2 || return 1
    fi
    in_target grub-mkconfig -o /boot/grub/grub.cfg 2>&1 | tail -n 3 >&2
}

verify() {  # what the disk needs to boot, read back
    grep -q "^UUID=$root_uuid / " "$target/etc/fstab" || { say "fstab has no root"; return 1; }
    ls "$target"/boot/vmlinuz-* >/dev/null 2>&1 || { say "no kernel in /boot"; return 1; }
    ls "$target"/boot/initrd.img-* >/dev/null 2>&1 || { say "no initrd in /boot"; return 1; }
    grep -q "^[[:space:]]*linux.*root=" "$target/boot/grub/grub.cfg" 2>/dev/null \
        || { say "grub.cfg boots no kernel"; return 1; }
    if [ "$FIRMWARE" = uefi ]; then
        for file in EFI/BOOT/BOOTX64.EFI EFI/BOOT/grubx64.efi EFI/debian/shimx64.efi \
                    EFI/debian/grubx64.efi; do
            [ -s "$target/boot/efi/$file" ] || { say "no $file on the ESP"; return 1; }
        done
    else
        dd if="$disk" bs=512 count=1 2>/dev/null | tr -dc 'A-Z' | grep -q GRUB \
            || { say "no GRUB boot code in the MBR"; return 1; }
    fi
}

# took STEP: the seconds since the last step, added to the timings line (the benchmark's).
took() {
    now=$(cut -d' ' -f1 /proc/uptime)
    timings="$timings, $1 $(awk -v a="$mark" -v b="$now" 'BEGIN { printf "%.1f s", b - a }')"
    mark=$now
}

install() {
    mark=$(cut -d' ' -f1 /proc/uptime) timings=''
    partition || { say "cannot partition $disk"; return 1; }
    make_file_systems || { say "cannot make the file systems"; return 1; }
    took "partitions and file systems"
    target=/tmp/metal-target.$$
    mkdir -p "$target" && mount_at -t ext4 "$root" "$target" || return 1
    zstd -dc | /bin/tar -x -f - -C "$target" --numeric-owner --xattrs --xattrs-include='*' \
        || { say "unpacking the root tarball failed"; return 1; }
    took "download and unpack"
    if [ -n "$ESP" ]; then
        for module in vfat nls_cp437 nls_ascii; do modprobe -q "$module" 2>/dev/null; done
        mkdir -p "$target/boot/efi" && mount_at -t vfat "$esp" "$target/boot/efi" || return 1
    fi
    write_fstab && write_grub_defaults || return 1
    if [ -n "${METAL_CLOUD_CFG:-}" ]; then
        mkdir -p "$target/etc/cloud/cloud.cfg.d" || return 1
        (umask 077 && cp "$METAL_CLOUD_CFG" "$target/etc/cloud/cloud.cfg.d/90_metal_maas.cfg") \
            || return 1
    fi
    install_boot_loader || { say "grub-install failed"; return 1; }
    took "boot loader"
    verify
}

[ $# -eq 2 ] || fail "usage: install_root.sh DISK PLAN < root.tar.zst"
disk=$(readlink -f "$1")
FIRMWARE='' LAYOUT='' TABLE='' ESP='' ROOT_PART='' PV_PART='' LV=''
. "$2" || fail "cannot read the storage plan $2"
[ -n "$TABLE" ] && [ -n "$ROOT_PART$PV_PART" ] || fail "the storage plan $2 is incomplete"
[ -b "$disk" ] || fail "$1 is not a block device"
[ -e "/sys/class/block/${disk##*/}/partition" ] && fail "$disk is a partition, not a whole disk"
for tool in sfdisk /sbin/mkfs.fat lvm zstd chroot; do
    command -v "$tool" >/dev/null || fail "$tool is missing from this environment"
done
# By path: busybox's sh runs its own applets (tar, mkfs.vfat, mke2fs: without xattrs, FAT32's
# volume id, ext4) for bare names.
/bin/tar --version 2>/dev/null | grep -q 'GNU tar' || fail "GNU tar is missing from this system"
sectors=$(blockdev --getsz "$disk") || fail "cannot read the size of $disk"
install
done=$?
cat >/dev/null  # the rest of the stream (tar stops at its end-of-archive blocks)
[ "$done" = 0 ] || fail "$disk is not bootable"
cleanup
took "checks and unmount"
say "$LAYOUT layout on $disk ($FIRMWARE): root UUID=$root_uuid${ESP:+, ESP UUID=$esp_uuid}"
say "timings: ${timings#, }"
