#!/bin/sh
# metal erase job (busybox sh), rendered by the region for a Disk erasing machine:
# docs/metadata-api.md "Erase". Environment from /init: METAL_REGION, METAL_SYSTEM_ID,
# METAL_TOKEN; METAL_RUNNER_DIR (work directory); METAL_RUNNER_NO_POWEROFF=1 (tests).
#
# Each disk is erased, then read back (O_DIRECT, or after flushing the device's buffers and
# dropping the page cache) and every sampled block must be zero:
#   quick   zero the first and the last QUICK_BYTES of the disk and of each of its partitions
#           (partition tables, filesystem, RAID and LVM signatures); read back all of it
#   full    zero the whole device; read back the first and last block and SAMPLES random ones
#   secure  the device's own secure erase through the kernel (BLKSECDISCARD, blkdiscard -s);
#           where the device or its driver has none (virtio, most SATA/NVMe: ATA and NVMe
#           secure erase need hdparm or nvme-cli, which this environment has not) FALLBACK
#           (full or quick) is used instead, and the report says so; sampled like full
# One report line per disk goes to the region (POST erase-report/), which decides Ready or
# Failed disk erasing and answers poweroff=1. A heartbeat every HEARTBEAT seconds meanwhile
# pushes the Disk erasing deadline forward (a full erase of a big disk takes hours).
REGION="${METAL_REGION:-@REGION@}"
SYSTEM_ID="${METAL_SYSTEM_ID:-@SYSTEM_ID@}"
TOKEN="${METAL_TOKEN:-}"
MODE=@MODE@
FALLBACK=@FALLBACK@
# The commissioning inventory's disks; empty: every non-removable disk found here.
DISKS='@DISKS@'
QUICK_BYTES=@QUICK_BYTES@
SAMPLES=@SAMPLES@
HEARTBEAT=@HEARTBEAT@
BLOCK=65536
WORK="${METAL_RUNNER_DIR:-/tmp/metal-job}/erase"
@LIB@

# Every non-removable disk (the same filter as commissioning's 20-block-devices).
found_disks() {
    local dir name
    for dir in /sys/block/*; do
        name=${dir##*/}
        case "$name" in loop*|ram*|zram*|sr*|dm-*|md*|nbd*|fd*) continue ;; esac
        [ -e "$dir/device" ] || continue
        [ "$(cat "$dir/removable" 2>/dev/null)" = 1 ] && continue
        echo "$name"
    done
}

disk_list() {
    if [ -n "$DISKS" ]; then echo "$DISKS" | tr ' ' '\n'; else found_disks; fi
}

# zero DEV OFFSET LENGTH: write zeros there (synced); adds to $written, sets $error on failure.
zero() {
    local out
    [ "$3" -gt 0 ] || return 0
    if out=$(dd if=/dev/zero of="$1" bs=1048576 oflag=seek_bytes seek="$2" \
            iflag=count_bytes count="$3" conv=notrunc,fsync 2>&1); then
        written=$((written + $3))
        return 0
    fi
    error="write of $3 bytes at $2 failed: $(echo "$out" | grep -v records | head -n1)"
    return 1
}

# read_block DEV OFFSET LENGTH: the bytes there into $WORK/block, from the device itself.
read_block() {
    rm -f "$WORK/block"
    if [ "$direct" = 1 ]; then
        dd if="$1" of="$WORK/block" bs="$BLOCK" iflag=skip_bytes,count_bytes,direct skip="$2" \
            count="$3" 2>/dev/null && return 0
        direct=0  # no O_DIRECT here: the caches were dropped before reading, read normally
    fi
    dd if="$1" of="$WORK/block" bs="$BLOCK" iflag=skip_bytes,count_bytes skip="$2" \
        count="$3" 2>/dev/null
}

# check DEV OFFSET LENGTH: sample one block; counts $samples and $bad (not all zero, or short).
check() {
    samples=$((samples + 1))
    if ! read_block "$1" "$2" "$3" || [ "$(wc -c < "$WORK/block")" -ne "$3" ] \
            || [ "$(tr -d '\000' < "$WORK/block" | wc -c)" -ne 0 ]; then
        bad=$((bad + 1))
        [ "$bad" -le 3 ] && say "$1: block at $2 is not zero"
    fi
}

# Before reading back: nothing of the device may come from a cache (reads are O_DIRECT too).
# METAL_ERASE_KEEP_CACHES=1 leaves the page cache of the host alone (tests on loop devices).
drop_caches() {
    sync
    blockdev --flushbufs "$1" 2>/dev/null
    [ "${METAL_ERASE_KEEP_CACHES:-0}" = 1 ] || echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
    direct=1
}

# quick_ranges NAME SIZE: "offset length" of what a quick erase zeroes, sorted and merged.
quick_ranges() {
    local part start length
    {
        edges 0 "$2"
        for part in /sys/block/"$1"/"$1"*; do
            [ -f "$part/start" ] || continue
            start=$(cat "$part/start") length=$(cat "$part/size")
            edges $((start * 512)) $((length * 512))
        done
    } | sort -n | awk '{ s = $1; e = $1 + $2 }
        NR > 1 && s <= ce { if (e > ce) ce = e; next }
        NR > 1 { printf "%.0f %.0f\n", cs, ce - cs }
        { cs = s; ce = e }
        END { if (NR) printf "%.0f %.0f\n", cs, ce - cs }'
}

edges() {  # OFFSET LENGTH: its first and last QUICK_BYTES (all of it when that is less)
    if [ "$2" -le $((QUICK_BYTES * 2)) ]; then
        echo "$1 $2"
    else
        echo "$1 $QUICK_BYTES"
        echo "$(($1 + $2 - QUICK_BYTES)) $QUICK_BYTES"
    fi
}

quick_erase() {  # DEV NAME SIZE
    local offset length
    quick_ranges "$2" "$3" > "$WORK/ranges"
    while read -r offset length; do
        zero "$1" "$offset" "$length" || return 1
    done < "$WORK/ranges"
}

quick_verify() {  # DEV: every block of the zeroed ranges
    local offset length end size
    while read -r offset length; do
        end=$((offset + length))
        while [ "$offset" -lt "$end" ]; do
            size=$((end - offset))
            [ "$size" -gt "$BLOCK" ] && size=$BLOCK
            check "$1" "$offset" "$size"
            offset=$((offset + size))
        done
    done < "$WORK/ranges"
}

sample_verify() {  # DEV SIZE: the first and the last block, and SAMPLES random ones
    local size=$2 blocks last seed index
    [ "$size" -gt 0 ] || return 0
    blocks=$((size / BLOCK))
    if [ "$blocks" -lt 1 ]; then
        check "$1" 0 "$size"
        return
    fi
    last=$((size - BLOCK))
    check "$1" 0 "$BLOCK"
    [ "$last" -gt 0 ] && check "$1" "$last" "$BLOCK"
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    awk -v n="$SAMPLES" -v b="$blocks" -v seed="${seed:-1}" \
        'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%.0f\n", int(rand() * b) }' \
        > "$WORK/samples"
    while read -r index; do
        check "$1" $((index * BLOCK)) "$BLOCK"
    done < "$WORK/samples"
}

# erase_disk NAME: erase and verify one disk; its report line goes to file descriptor 3.
erase_disk() {
    local name="$1" dev="/dev/$1" size=0 used="$MODE" note='' result=failed n=0 out
    written=0 samples=0 bad=0 error=''
    while [ ! -b "$dev" ] && [ "$n" -lt 10 ]; do sleep 1; n=$((n + 1)); done
    if [ ! -b "$dev" ]; then
        note="disk not found"
    elif [ "$(cat "/sys/block/$name/ro" 2>/dev/null)" = 1 ]; then
        size=$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)
        note="the device is read-only: nothing could be written"
    else
        size=$(blockdev --getsize64 "$dev")
        say "$name: $size bytes, $MODE erase"
        if [ "$used" = secure ]; then
            if out=$(blkdiscard -s "$dev" 2>&1); then
                drop_caches "$dev"
                sample_verify "$dev" "$size"
                if [ "$bad" -gt 0 ]; then
                    note="secure erase left data that is not zero ($bad of $samples blocks): zeroed"
                    used=full samples=0 bad=0
                fi
            else
                used=$FALLBACK
                out=$(echo "$out" | head -n1 | sed 's/^blkdiscard: //')
                note="secure erase unsupported ($out; ATA or NVMe secure erase needs hdparm"
                note="$note or nvme-cli, not in this environment): $FALLBACK erase instead"
            fi
        fi
        case "$used" in
            quick)
                quick_erase "$dev" "$name" "$size" && drop_caches "$dev" \
                    && quick_verify "$dev" ;;
            full) zero "$dev" 0 "$size" && drop_caches "$dev" && sample_verify "$dev" "$size" ;;
        esac
        blockdev --rereadpt "$dev" 2>/dev/null
        if [ -n "$error" ]; then
            note="${note:+$note; }$error"
        elif [ "$samples" -gt 0 ] && [ "$bad" -eq 0 ]; then
            result=passed
        else
            note="${note:+$note; }$bad of $samples sampled blocks are not zero"
        fi
    fi
    printf 'disk=%s\tsize=%s\trequested=%s\tmode=%s\tbytes_written=%s\tsamples=%s\t' \
        "$name" "$size" "$MODE" "$used" "$written" "$samples" >&3
    printf 'bad=%s\tresult=%s\tnote=%s\n' "$bad" "$result" "$(echo "$note" | tr '\t\n' '  ')" \
        >&3
}

main() {
    local name beat
    mkdir -p "$WORK"
    : > "$WORK/report"
    say "erase job for $SYSTEM_ID: $MODE erase of ${DISKS:-every non-removable disk}"
    heartbeat_loop </dev/null >/dev/null 2>&1 &
    beat=$!
    trap 'kill -TERM "$beat" 2>/dev/null' EXIT
    for name in $(disk_list); do
        erase_disk "$name" 3>> "$WORK/report"
    done
    kill -TERM "$beat" 2>/dev/null
    sed 's/^/metal: erase report: /' "$WORK/report"
    if ! api erase-report/ "$WORK/answer" --post-file "$WORK/report"; then
        say "could not report the end of the erase job"
        return 1
    fi
    grep -qx 'poweroff=1' "$WORK/answer" && power_off
    return 0
}

main
