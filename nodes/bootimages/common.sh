# Shell functions shared by the ephemeral /init (init.sh) and the test OS's /init (testos_init.sh),
# installed in both initramfs images as /lib/metal/common.sh and sourced after busybox --install.
# Set SAY_PREFIX (the console prefix: "metal", "metal-os") before sourcing.

say() { echo "${SAY_PREFIX:-metal}: $*"; }

mount_pseudo_filesystems() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
}

loaded_modules() { cut -d' ' -f1 /proc/modules | sort; }

# Load the module of every device the kernel knows (modalias), saying which ones got loaded.
modalias_pass() {
    loaded_modules > /tmp/modules.before
    cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u > /tmp/modaliases
    while read -r alias; do
        modprobe -q "$alias" 2>/dev/null
    done < /tmp/modaliases
    loaded_modules > /tmp/modules.after
    for m in $(cat /tmp/modules.after); do
        grep -qx "$m" /tmp/modules.before || say "loaded by modalias: $m"
    done
}

# Two passes: buses found in the first (virtio, PCI bridges) show their devices in the second.
load_modules() {
    say "loading modules by modalias (pass 1)"
    modalias_pass
    sleep 1
    say "loading modules by modalias (pass 2)"
    modalias_pass
}

# The interface with MAC $1 (lower case), else the first one that is not lo.
pick_interface() {
    first=''
    for dir in /sys/class/net/*; do
        name="${dir##*/}"
        [ "$name" = lo ] && continue
        [ -z "$first" ] && first="$name"
        [ -n "$1" ] && [ "$(cat "$dir/address")" = "$1" ] && { echo "$name"; return; }
    done
    echo "$first"
}

# Bring up the interface with MAC $1 (else the first) by DHCP; sets $iface and $ip ('' if none).
network_up() {
    iface='' ip=''
    for i in 1 2 3 4 5 6 7 8 9 10; do
        iface=$(pick_interface "$1")
        [ -n "$iface" ] && break
        sleep 1
    done
    if [ -z "$iface" ]; then
        say "no network interface found"
        return 1
    fi
    say "bringing up $iface ($(cat /sys/class/net/$iface/address)) by DHCP"
    ip link set lo up
    ip link set "$iface" up
    for attempt in 1 2 3; do
        udhcpc -i "$iface" -n -q -t 5 -T 3 -s /usr/share/udhcpc/default.script && break
        say "dhcp attempt $attempt on $iface failed"
    done
    ip=$(ip -4 -o addr show dev "$iface" | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n1)
    if [ -n "$ip" ]; then say "dhcp address on $iface: $ip"; else say "no dhcp address on $iface"; fi
    [ -n "$ip" ]
}

# A shell on the console, for ever.
console_shell() {
    while true; do
        setsid cttyhack sh
    done
}
