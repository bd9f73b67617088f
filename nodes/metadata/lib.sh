# Shared by every job runner (render.py puts it in each): talking to the metadata API.
# Needs REGION, SYSTEM_ID, TOKEN set. The token only ever goes into the Authorization header.
API="${REGION}api/v1/metadata/"
RETRIES=5

say() { echo "metal: $*"; }

# api PATH OUT [wget options]: call the metadata API, retrying network and server errors
# (a 4xx answer will not change). No wget -T: busybox 1.35 static wget segfaults with it.
api() {
    local path="$1" out="$2" n=0 err
    shift 2
    while :; do
        if [ -n "$TOKEN" ]; then
            err=$(wget -q -O "$out" --header "Authorization: Machine $SYSTEM_ID:$TOKEN" \
                "$@" "$API$path" 2>&1) && return 0
        else  # enlisting: no token yet
            err=$(wget -q -O "$out" "$@" "$API$path" 2>&1) && return 0
        fi
        case "$err" in *"error: HTTP/"*" 4"[0-9][0-9]*) say "$path: ${err#*error: }"; return 1 ;; esac
        n=$((n + 1))
        [ "$n" -ge "$RETRIES" ] && { say "$path: ${err:-failed}"; return 1; }
        sleep "$n"
    done
}

post() { api "$1" /dev/null --post-data "${2:-}"; }

now() { cut -d' ' -f1 /proc/uptime; }

# Every HEARTBEAT seconds until killed (TERM): the runner is alive.
heartbeat_loop() {
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
        post heartbeat/ || :
        sleep "$HEARTBEAT" &
        nap=$!
        wait "$nap"
    done
}

# A value for form data (application/x-www-form-urlencoded).
urlencode() {
    printf '%s' "$1" | sed 's/%/%25/g; s/+/%2B/g; s/&/%26/g; s/=/%3D/g; s/\//%2F/g; s/ /+/g' \
        | tr -d '\n'
}

# The first IPv4 address that is not loopback.
my_ip() {
    ip -4 -o addr show scope global | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n1
}

power_off() {
    if [ "${METAL_RUNNER_NO_POWEROFF:-0}" = 1 ]; then
        say "job over: would power off (METAL_RUNNER_NO_POWEROFF=1)"
        exit 0
    fi
    say "job over: powering off"
    sync
    sleep 1  # let the serial console drain: poweroff -f stops the machine mid-line
    poweroff -f
    exit 0
}
