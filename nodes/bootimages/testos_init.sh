#!/bin/busybox sh
# /init of the metal test OS (a deployable image made by `manage.py build_test_os`; busybox sh,
# the initramfs is the root). Every console line starts "metal-os:".
# First boot: loads modules by modalias, finds metal.cfg on a partition of the disk it booted
# from (region=URL/, system_id=, token=: written by write_metal_cfg.sh after the image), brings
# up the NIC by DHCP, runs the region's user data when it is a script (#!), reports
# POST {region}api/v1/metadata/deployed/ (with the user data's exit status and output) and
# leaves metal.done beside metal.cfg, so that later boots skip user data and report. Then a
# shell on the console.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /etc /root /boot
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
SAY_PREFIX=metal-os
. /lib/metal/common.sh

mount_pseudo_filesystems
exec </dev/console >/dev/console 2>&1
say "init started (kernel $(uname -r), test OS @BUILD_ID@)"
load_modules
for module in vfat nls_cp437 nls_ascii nls_utf8; do modprobe -q "$module" 2>/dev/null; done

# Mount each partition in turn on /boot until one holds metal.cfg; its device, or fail.
find_config() {
    for dir in /sys/class/block/*; do
        [ -e "$dir/partition" ] || continue
        dev="/dev/${dir##*/}"
        mount -t vfat "$dev" /boot 2>/dev/null || mount -t ext4 "$dev" /boot 2>/dev/null \
            || continue
        [ -f /boot/metal.cfg ] && { echo "$dev"; return 0; }
        umount /boot
    done
    return 1
}

# metal.cfg: key=value lines (CR tolerated); the values are never run as shell.
read_config() {
    region='' system_id='' token=''
    while IFS= read -r line || [ -n "$line" ]; do
        line=$(echo "$line" | tr -d '\r')
        case "$line" in
            region=*) region="${line#region=}" ;;
            system_id=*) system_id="${line#system_id=}" ;;
            token=*) token="${line#token=}" ;;
        esac
    done < "$1"
    case "$region" in ''|*/) ;; *) region="$region/" ;; esac
}

boot_dev=''
for attempt in 1 2 3 4 5; do
    boot_dev=$(find_config) && break
    sleep 1
done
region='' system_id='' token=''
if [ -n "$boot_dev" ]; then
    read_config /boot/metal.cfg
    say "metal.cfg on $boot_dev: region=${region:-none} system_id=${system_id:-none}"
else
    say "no metal.cfg on any partition"
fi

network_up ""
auth="Authorization: Machine ${system_id}:${token}"
api="${region}api/v1/metadata/"

# Runs /tmp/user-data with sh, its output on the console line by line (and kept in
# /tmp/user-data.out for the report); sets $rc.
run_user_data() {
    say "running user data"
    { sh /tmp/user-data 2>&1; echo "$?" > /tmp/user-data.rc; } | tee /tmp/user-data.out \
        | while IFS= read -r line; do
        say "user data: $line"
    done
    rc=$(cat /tmp/user-data.rc)
    say "user data finished (exit $rc)"
}

# No wget -T: busybox 1.35 static wget segfaults with it on a failed connection.
fetch_user_data() {
    say "fetching user data from ${api}user-data/"
    if ! wget -q -O /tmp/user-data --header "$auth" "${api}user-data/" 2>/dev/null; then
        say "no user data"
    elif [ "$(head -c 2 /tmp/user-data)" = '#!' ]; then
        run_user_data
    else
        say "user data is not a script (no #!): not run"
    fi
}

# Every byte as %XX: a form value whatever the text holds.
urlencode() { od -A n -v -t x1 | tr -d ' \n' | sed 's/../%&/g'; }

# The report's form body: a message, and the user data's exit status and output (first 16 KiB).
report_body() {
    printf 'message=deployed%%20OS%%20booted'
    [ -f /tmp/user-data.rc ] && printf '&user_data_exit=%s' "$(cat /tmp/user-data.rc)"
    [ -f /tmp/user-data.out ] && printf '&user_data_output=%s' \
        "$(head -c 16384 /tmp/user-data.out | urlencode)"
}

report_deployed() {
    report_body > /tmp/deployed.body
    for attempt in 1 2 3 4 5; do
        say "reporting to ${api}deployed/ (attempt $attempt)"
        wget -q -O /tmp/deployed --header "$auth" \
            --post-file /tmp/deployed.body "${api}deployed/" 2>/dev/null \
            && return 0
        sleep "$attempt"
    done
    return 1
}

if [ -f /boot/metal.done ]; then
    say "first boot already done (metal.done): no user data, no report"
elif [ -z "$region" ] || [ -z "$system_id" ] || [ -z "$token" ]; then
    say "metal.cfg lacks region, system_id or token: no user data, no report"
elif [ -z "$ip" ]; then
    say "no network: no user data, no report"
else
    fetch_user_data
    if report_deployed; then
        say "reported deployed"
        echo "reported $(date -u +%Y-%m-%dT%H:%M:%SZ)" > /boot/metal.done
    else
        say "report failed"
    fi
fi
[ -n "$boot_dev" ] && sync && umount /boot
say "deployed OS booted (system_id=${system_id:-none})"
console_shell
