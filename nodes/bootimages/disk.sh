# Disk helpers sourced by write_root_tgz.sh and install_root.sh (busybox sh; installed as
# /lib/metal/disk.sh, METAL_LIB overrides the directory).

# partition_node DISK N: the node of partition number N of DISK (vda2, nvme0n1p2, loop0p2),
# waiting up to 10 s for it. Made from sysfs when the kernel knows the partition but nothing
# made its node (no devtmpfs); partx (where there is one) adds it when re-reading the table did
# not (seen on loop devices).
partition_node() {
    case "$1" in *[0-9]) part="${1}p$2" ;; *) part="$1$2" ;; esac
    for i in 1 2 3 4 5 6 7 8 9 10; do
        [ -b "$part" ] && { echo "$part"; return 0; }
        [ "$i" = 2 ] && command -v partx >/dev/null && partx -a "$1" 2>/dev/null
        sys="/sys/class/block/${part##*/}/dev"
        [ -r "$sys" ] && mknod "$part" b $(tr ':' ' ' < "$sys") 2>/dev/null
        [ -b "$part" ] || sleep 1
    done
    return 1
}
