#!/bin/busybox sh
# /init of the metal ephemeral environment (busybox sh). Every console line starts "metal:".
# Kernel command line: metal.region=URL/ metal.system_id=ID metal.token=TOKEN (both absent when
# enlisting), metal.poweroff=1, BOOTIF=01-aa-bb-.. or metal.mac=aa:bb:..
# The job (GET job/) is the region's runner: it reports to the metadata API and powers the
# machine off when the region says so (docs/metadata-api.md).
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /etc /root
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root

# say, load_modules, network_up...: shared with the test OS's /init (common.sh).
SAY_PREFIX=metal
. /lib/metal/common.sh

mount_pseudo_filesystems
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

load_modules
network_up "$mac"

say "ephemeral environment up (ip=${ip:-none}, system_id=${system_id:-none})"

# The token goes in the Authorization header, never in a URL (access logs).
region_get() {
    if [ -n "$token" ]; then
        wget -q --header "Authorization: Machine ${system_id}:${token}" "$@"
    else
        wget -q "$@"
    fi
}

# A job when there is a token, or enlistment when the machine is unknown (no system id);
# otherwise say hello. No wget -T: busybox 1.35 static wget segfaults with it on a failed
# connection.
if [ -n "$region" ] && [ -n "$ip" ]; then
    api="${region}api/v1/metadata/"
    [ -n "$mac" ] || mac=$(cat "/sys/class/net/$iface/address" 2>/dev/null)
    got_job=''
    if [ -n "$token" ] || [ -z "$system_id" ]; then
        say "fetching job from ${api}job/"
        region_get -O /tmp/job "${api}job/" 2>/dev/null \
            && [ "$(head -c 2 /tmp/job)" = '#!' ] && got_job=1
    fi
    if [ -n "$got_job" ]; then
        chmod +x /tmp/job
        say "running job"
        METAL_REGION="$region" METAL_SYSTEM_ID="$system_id" METAL_TOKEN="$token" \
            METAL_MAC="$mac" /tmp/job
        say "job finished (exit $?)"
    else
        say "no job; saying hello to ${api}hello/"
        region_get -O /tmp/hello --post-data "mac=${mac}&ip=${ip}" "${api}hello/" 2>/dev/null \
            || say "hello failed"
    fi
fi

if [ "$poweroff" = 1 ]; then
    say "powering off"
    sync
    poweroff -f
fi
console_shell
