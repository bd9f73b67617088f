#!/bin/busybox sh
# /init of the metal ephemeral environment (busybox sh). Every console line starts "metal:".
# Kernel command line: metal.region=URL/ metal.system_id=ID metal.token=TOKEN (absent when
# enlisting), metal.poweroff=1, BOOTIF=01-aa-bb-.. or metal.mac=aa:bb:..
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /etc /root
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root

say() { echo "metal: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
say "init started (kernel $(uname -r), image @BUILD_ID@)"

region='' system_id='' token='' poweroff='' mac=''
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        metal.region=*) region="${arg#*=}" ;;
        metal.system_id=*) system_id="${arg#*=}" ;;
        metal.token=*) token="${arg#*=}" ;;
        metal.poweroff=*) poweroff="${arg#*=}" ;;
        metal.mac=*) mac="${arg#*=}" ;;
        BOOTIF=*) [ -z "$mac" ] && mac=$(echo "${arg#*=}" | sed 's/^01-//; s/-/:/g') ;;
    esac
done
mac=$(echo "$mac" | tr 'A-F' 'a-f')
if [ -n "$region" ]; then
    case "$region" in */) ;; *) region="$region/" ;; esac
fi
say "cmdline: region=${region:-none} system_id=${system_id:-none} mac=${mac:-any} poweroff=${poweroff:-0}"

loaded_modules() { cut -d' ' -f1 /proc/modules | sort; }

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

say "loading modules by modalias (pass 1)"
modalias_pass
sleep 1
say "loading modules by modalias (pass 2)"
modalias_pass

pick_interface() {
    first=''
    for dir in /sys/class/net/*; do
        name="${dir##*/}"
        [ "$name" = lo ] && continue
        [ -z "$first" ] && first="$name"
        [ -n "$mac" ] && [ "$(cat "$dir/address")" = "$mac" ] && { echo "$name"; return; }
    done
    echo "$first"
}

iface=''
for i in 1 2 3 4 5 6 7 8 9 10; do
    iface=$(pick_interface)
    [ -n "$iface" ] && break
    sleep 1
done

ip=''
if [ -z "$iface" ]; then
    say "no network interface found"
else
    say "bringing up $iface ($(cat /sys/class/net/$iface/address)) by DHCP"
    ip link set lo up
    ip link set "$iface" up
    for attempt in 1 2 3; do
        udhcpc -i "$iface" -n -q -t 5 -T 3 -s /usr/share/udhcpc/default.script && break
        say "dhcp attempt $attempt on $iface failed"
    done
    ip=$(ip -4 -o addr show dev "$iface" | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n1)
    if [ -n "$ip" ]; then say "dhcp address on $iface: $ip"; else say "no dhcp address on $iface"; fi
fi

# No wget -T: busybox 1.35 static wget segfaults with it on a failed connection.
if [ -n "$region" ] && [ -n "$ip" ]; then
    query="system_id=${system_id}&token=${token}"
    say "fetching job from ${region}api/v1/metadata/job/"
    if wget -q -O /tmp/job "${region}api/v1/metadata/job/?${query}" 2>/dev/null \
            && [ "$(head -c 2 /tmp/job)" = '#!' ]; then
        chmod +x /tmp/job
        say "running job"
        /tmp/job
        say "job finished (exit $?)"
    else
        say "no job; saying hello to ${region}api/v1/metadata/hello/"
        wget -q -O /tmp/hello --post-data "${query}&mac=${mac}&ip=${ip}" \
            "${region}api/v1/metadata/hello/" 2>/dev/null || say "hello failed"
    fi
fi

say "ephemeral environment up (ip=${ip:-none}, system_id=${system_id:-none})"
if [ "$poweroff" = 1 ]; then
    say "powering off"
    sync
    poweroff -f
fi
while true; do
    setsid cttyhack sh
done
