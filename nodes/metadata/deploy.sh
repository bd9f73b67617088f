#!/bin/sh
# metal deploy runner (busybox sh), rendered by the region for one deployment (docs/metadata-api.md,
# "Deploy"). Streams the image from the rack's image cache and writes it to the boot disk, never a
# corrupt one: pass 1 only downloads and checks the sha256; pass 2 writes while checking it again
# and wipes what it wrote when the bytes differ. Disk images (raw, gz, zst) are written as they
# are, then write_metal_cfg.sh; a root tarball (tgz) is unpacked on a fresh ext4 partition with
# extlinux to boot it, then write_metal_cfg.sh; a real OS's root tarball (tzst) is installed by
# install_root.sh with the machine's storage layout (the region's plan below) and its own GRUB,
# and the cloud-init configuration (GET cloud-config/: the MAAS datasource and reporting with
# the OS's credential, the network) goes into it: its cloud-init reports Deployed. Then the
# report (status/) and a reboot into the deployed OS (netboot is off by then: the rack answers
# "boot local").
# Environment as runner.sh's (METAL_REGION, METAL_SYSTEM_ID, METAL_TOKEN, METAL_RUNNER_DIR,
# METAL_RUNNER_NO_POWEROFF=1: never reboots or powers off), plus METAL_IMAGES (the rack's image
# server; default: metal.images= on the kernel command line) and METAL_DEPLOY_DISK (the disk;
# tests give a regular file). The token only goes into the Authorization header and metal.cfg.
REGION="${METAL_REGION:-@REGION@}"
SYSTEM_ID="${METAL_SYSTEM_ID:-@SYSTEM_ID@}"
TOKEN="${METAL_TOKEN:-}"
HEARTBEAT=@HEARTBEAT@
RESULT=@RESULT@
IMAGE="@IMAGE@"
IMAGE_PATH="@IMAGE_PATH@"
FORMAT="@FORMAT@"
SHA256="@SHA256@"
SIZE=@SIZE@
RETRY_WAIT=@RETRY_WAIT@
DISK="${METAL_DEPLOY_DISK:-@DISK@}"
IMAGES="${METAL_IMAGES:-}"
WORK="${METAL_RUNNER_DIR:-/tmp/metal-job}/deploy"
set -o pipefail
# say, api (the metadata API, retried), post, heartbeat_loop, urlencode: nodes/metadata/lib.sh.
@LIB@

cmdline_value() {  # NAME: the value of NAME= on the kernel command line
    for arg in $(cat /proc/cmdline 2>/dev/null); do
        case "$arg" in "$1"=*) echo "${arg#*=}"; return 0 ;; esac
    done
}

# fail REASON: end the deployment with REASON (the region's error_description).
fail() { echo "$*" > "$WORK/reason"; say "deploy failed: $*"; exit 1; }

first_disk() {  # the first non-removable disk the kernel knows (waits up to 10 s for one)
    for i in 1 2 3 4 5 6 7 8 9 10; do
        for dir in /sys/block/*; do
            name=${dir##*/}
            case "$name" in loop*|ram*|zram*|sr*|fd*|md*|dm-*|nbd*|mtd*) continue ;; esac
            [ "$(cat "$dir/removable" 2>/dev/null)" = 0 ] || continue
            [ "$(cat "$dir/size" 2>/dev/null || echo 0)" -gt 0 ] || continue
            echo "/dev/$name"
            return 0
        done
        sleep 1
    done
    return 1
}

# The command that turns a disk image into disk bytes (tgz: the one that unpacks the tarball).
decompressor() {
    case "$FORMAT" in
        raw) echo cat ;;
        gz) echo "gunzip -c" ;;
        zst) command -v zstd >/dev/null 2>&1 && echo "zstd -dc" ;;
        tgz) command -v write_root_tgz.sh >/dev/null 2>&1 && echo write_root_tgz.sh ;;
        tzst) command -v install_root.sh >/dev/null 2>&1 && echo install_root.sh ;;
        *) return 1 ;;
    esac
}

# The image stream (stdin) to DISK: a disk image through its decompressor and dd; a root
# tarball by write_root_tgz.sh (partition table, ext4, the tarball, extlinux); a real OS's by
# install_root.sh (the storage plan, the tarball, GRUB, the cloud-init configuration).
write_stream() {
    case "$FORMAT" in
        tgz) write_root_tgz.sh "$1" ;;
        tzst) METAL_CLOUD_CFG="$WORK/cloud.cfg" install_root.sh "$1" "$WORK/plan" ;;
        *) $DECOMPRESS | dd of="$1" bs=1M iflag=fullblock conv=notrunc,fsync ;;
    esac
}

# Pass 1: the image's sha256, until it is the expected one. A failed download or a mismatch is
# retried (RETRIES attempts, waits of RETRY_WAIT, 2 x RETRY_WAIT... seconds): the rack may still
# be syncing the image, and its next sync (RACK_IMAGE_SYNC_INTERVAL, a minute by default)
# re-verifies a cached file that changed and fetches it again from the region. The last
# failure is left in $WORK/pass1.
checksum_pass() {
    local n=0 got
    while :; do
        n=$((n + 1))
        if wget -q -O - "$URL" 2>"$WORK/wget.err" | sha256sum > "$WORK/sum1"; then
            got=$(cut -d' ' -f1 "$WORK/sum1")
            [ "$got" = "$SHA256" ] && return 0
            echo "sha256 checksum mismatch for $IMAGE_PATH on the rack: expected $SHA256, \
got $got" > "$WORK/pass1"
        else
            echo "cannot download $URL: $(tail -n1 "$WORK/wget.err")" > "$WORK/pass1"
        fi
        say "pass 1, attempt $n of $RETRIES: $(cat "$WORK/pass1")"
        [ "$n" -ge "$RETRIES" ] && return 1
        sleep $((n * RETRY_WAIT))
    done
}

# Pass 2: stream to DISK through the decompressor while a second sha256 reads the same bytes.
write_pass() {
    local fifo="$WORK/stream" hasher rc full partial
    rm -f "$fifo" "$WORK/sum2" "$WORK/written" "$WORK/records"
    mkfifo "$fifo" || return 1
    sha256sum < "$fifo" > "$WORK/sum2" &
    hasher=$!
    wget -q -O - "$URL" 2>"$WORK/wget.err" | tee "$fifo" | write_stream "$1" 2>"$WORK/write.err"
    rc=$?
    wait "$hasher"
    # MiB written (whole blocks + the last partial one): busybox dd prints no byte count.
    sed -n 's/^\([0-9]*\)+\([0-9]*\) records out$/\1 \2/p' "$WORK/write.err" > "$WORK/records"
    read -r full partial < "$WORK/records" && echo $((full + partial)) > "$WORK/written"
    return "$rc"
}

wipe() {  # DISK: zero what pass 2 wrote (at least the first MiB: the partition table)
    local mib
    mib=$(cat "$WORK/written" 2>/dev/null)
    [ -n "$mib" ] || mib=64  # unknown: more than any boot sector and partition table
    [ "$mib" -ge 1 ] || mib=1
    say "wiping the first $mib MiB of $1"
    dd if=/dev/zero of="$1" bs=1M count="$mib" conv=notrunc,fsync 2>/dev/null
    sync
}

# A real OS's storage plan (nodes/storage_layouts.plan_shell) and cloud-init configuration.
prepare_real_os() {
    cat > "$WORK/plan" <<'METAL_STORAGE_PLAN'
@STORAGE@
METAL_STORAGE_PLAN
    grep -q '^TABLE=' "$WORK/plan" || fail "the region sent no storage plan for a $FORMAT image"
    (umask 077 && api cloud-config/ "$WORK/cloud.cfg") \
        || fail "cannot fetch the deployed OS's cloud-init configuration (cloud-config/)"
}

deploy() {
    [ -n "$IMAGES" ] || fail "no image server: metal.images= is not on the kernel command line"
    DECOMPRESS=$(decompressor) || fail "cannot write a $FORMAT image: this ephemeral environment \
has no tool for it (zst needs zstd, tgz write_root_tgz.sh, tzst install_root.sh): import boot \
images again"
    disk=${DISK:-$(first_disk)}
    [ -n "$disk" ] || fail "no disk to write the image to"
    [ -b "$disk" ] || { [ -n "${METAL_DEPLOY_DISK:-}" ] && [ -f "$disk" ]; } \
        || fail "$disk is not a block device"
    URL="${IMAGES%/}/$IMAGE_PATH"
    say "deploying $IMAGE ($FORMAT, $SIZE bytes, sha256 $SHA256) from $URL to $disk"
    say "pass 1: downloading and checking the sha256; nothing is written"
    checksum_pass || fail "$(cat "$WORK/pass1"); nothing was written to $disk"
    say "pass 1: sha256 ok"
    [ "$FORMAT" = tzst ] && prepare_real_os
    say "pass 2: writing $disk while checking the sha256 again"
    write_pass "$disk"
    written=$?
    grep '^metal: ' "$WORK/write.err"  # what write_root_tgz.sh or install_root.sh said
    if [ "$written" != 0 ]; then
        wipe "$disk"
        fail "writing $disk failed ($(tail -n1 "$WORK/write.err")); what was written is wiped"
    fi
    got=$(cut -d' ' -f1 "$WORK/sum2")
    if [ "$got" != "$SHA256" ]; then
        wipe "$disk"
        fail "sha256 checksum mismatch while writing $IMAGE_PATH: expected $SHA256, got $got; \
what was written to $disk is wiped"
    fi
    case "$FORMAT" in
        tzst) say "pass 2: root tarball installed on $disk, sha256 ok"
              say "image written: the deployed OS's cloud-init reports when it is up"
              return 0 ;;
        tgz) say "pass 2: root tarball unpacked on $disk, sha256 ok" ;;
        *) say "pass 2: $(cat "$WORK/written") MiB written to $disk, sha256 ok" ;;
    esac
    write_metal_cfg.sh "$disk" "$REGION" "$SYSTEM_ID" "$TOKEN" \
        || fail "write_metal_cfg.sh failed: the deployed OS could not report in"
    sync
    say "image written"
}

stop() {  # poweroff|reboot
    if [ "${METAL_RUNNER_NO_POWEROFF:-0}" = 1 ]; then
        say "deployment over: would $1 (METAL_RUNNER_NO_POWEROFF=1)"
        exit 0
    fi
    say "deployment over: $1"
    sync
    "$1" -f
    exit 0
}

report() {  # STATUS MESSAGE: the region's answer says power off (failure) or not (reboot)
    if ! api status/ "$WORK/status" --post-data "status=$1&message=$(urlencode "$2")"; then
        say "could not report the end of the deployment"
        return 1
    fi
    if grep -qx 'poweroff=1' "$WORK/status"; then stop poweroff; else stop reboot; fi
}

main() {
    local beat start rc runtime
    mkdir -p "$WORK"
    rm -f "$WORK/reason" "$WORK/rc"
    [ -n "$IMAGES" ] || IMAGES=$(cmdline_value metal.images)
    say "deployment job for $SYSTEM_ID: $IMAGE"
    heartbeat_loop </dev/null >/dev/null 2>&1 &
    beat=$!
    [ "$RESULT" = 0 ] || post "results/$RESULT/start/" || :
    start=$(now)
    { ( deploy ); echo "$?" > "$WORK/rc"; } 2>&1 | tee "$WORK/output"
    rc=$(cat "$WORK/rc" 2>/dev/null)
    runtime=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    if [ "$RESULT" != 0 ]; then
        api "results/$RESULT/output/?stream=combined" /dev/null --post-file "$WORK/output" || :
        api "results/$RESULT/output/?stream=stdout" /dev/null --post-file "$WORK/output" || :
        post "results/$RESULT/finish/" "exit_status=${rc:-255}&runtime=$runtime&timed_out=0" || :
    fi
    kill -TERM "$beat" 2>/dev/null
    if [ "${rc:-255}" = 0 ]; then
        report ok ""
    else
        report failed "$(cat "$WORK/reason" 2>/dev/null || echo "deploy runner exit ${rc:-255}")"
    fi
}

main
