#!/bin/sh
# metal job runner (busybox sh), rendered by the region for one job: docs/metadata-api.md.
# Environment (set by /init; the rendered values below are the fallback): METAL_REGION,
# METAL_SYSTEM_ID, METAL_TOKEN; METAL_MAC (boot MAC, enlistment); METAL_RUNNER_DIR (work
# directory, default /tmp/metal-job); METAL_RUNNER_NO_POWEROFF=1 never powers off (tests).
# The token only ever goes into the Authorization header: never printed, never in a URL.
REGION="${METAL_REGION:-@REGION@}"
SYSTEM_ID="${METAL_SYSTEM_ID:-@SYSTEM_ID@}"
TOKEN="${METAL_TOKEN:-}"
JOB=@JOB@
HEARTBEAT=@HEARTBEAT@
WORK="${METAL_RUNNER_DIR:-/tmp/metal-job}/$JOB"
# One line per script in name order: result id, name, timeout (s, 0: none), parallel.
SCRIPTS='@SCRIPTS@'

# Each script's parameters, as environment variables.
script_env() {
    case "$1" in
@SCRIPT_ENV@
    esac
}

@LIB@

# watchdog DIR LIMIT: end the script's whole process group once its time is up (busybox
# timeout would kill only the script itself; its children would keep the output pipes open).
watchdog() {
    local n=0 pgid
    while [ "$n" -lt "$2" ]; do
        sleep 1
        [ -f "$1/rc" ] && return 0
        n=$((n + 1))
    done
    [ -f "$1/rc" ] && return 0
    : > "$1/timedout"
    pgid=$(cat "$1/pid")
    kill -TERM "-$pgid" 2>/dev/null
    sleep 2
    kill -KILL "-$pgid" 2>/dev/null
}

# execute DIR: run DIR/script in its own session; stdout, stderr and both (combined) to files.
execute() {
    local dir="$1"
    cd "$dir" || return 1
    { { { setsid sh -c 'echo $$ > "$1/pid"; exec ./script' sh "$dir"; echo $? > "$dir/rc"; } \
        | tee "$dir/stdout"; } 2>&1 1>&3 | tee "$dir/stderr"; } > "$dir/output" 3>&1
}

upload() {  # ID DIR: every output stream of a script
    post_file "$1" stdout "$2/stdout"
    post_file "$1" stderr "$2/stderr"
    post_file "$1" combined "$2/output"
    [ -f "$2/result" ] && post_file "$1" result "$2/result"
    return 0
}

post_file() { api "results/$1/output/?stream=$2" /dev/null --post-file "$3" || failed; }

failed() { : > "$WORK/failed"; }

run_one() {  # ID NAME TIMEOUT
    local id="$1" name="$2" limit="$3" dir="$WORK/$1" start rc runtime timed_out=0 dog=''
    mkdir -p "$dir"
    if ! api "scripts/$id/" "$dir/script"; then
        say "$name: cannot download the script"
        post "results/$id/finish/" "exit_status=127&runtime=0&timed_out=0" || failed
        return
    fi
    chmod +x "$dir/script"
    post "results/$id/start/" || failed
    say "running $name (timeout ${limit}s)"
    start=$(now)
    ( script_env "$id"; export RESULT_PATH="$dir/result"; execute "$dir" ) </dev/null &
    local job=$!
    if [ "$limit" -gt 0 ]; then
        watchdog "$dir" "$limit" </dev/null >/dev/null 2>&1 &
        dog=$!
    fi
    wait "$job"
    [ -n "$dog" ] && kill "$dog" 2>/dev/null
    runtime=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    rc=$(cat "$dir/rc" 2>/dev/null)
    [ -f "$dir/timedout" ] && timed_out=1
    upload "$id" "$dir"
    post "results/$id/finish/" "exit_status=${rc:-255}&runtime=$runtime&timed_out=$timed_out" \
        || failed
    say "$name: exit ${rc:-255} in ${runtime}s$([ "$timed_out" = 1 ] && echo ', timed out')"
}

# Scripts in name order; consecutive ones whose parallel is not "disabled" run together.
run_all() {
    local batch='' id name limit parallel pid
    while read -r id name limit parallel; do
        [ -n "$id" ] || continue
        if [ "$parallel" = disabled ]; then
            for pid in $batch; do wait "$pid"; done
            batch=''
            run_one "$id" "$name" "$limit"
        else
            run_one "$id" "$name" "$limit" &
            batch="$batch $!"
        fi
    done <<EOF
$SCRIPTS
EOF
    for pid in $batch; do wait "$pid"; done
}

# The region's answer decides: power off, or (same boot) the next job if there is one.
report() {  # STATUS MESSAGE
    if ! api status/ "$WORK/status" --post-data "status=$1&message=$2"; then
        say "could not report the end of the $JOB job"
        return 1
    fi
    grep -qx 'poweroff=1' "$WORK/status" && power_off
    next_job
}

next_job() {
    export METAL_REGION="$REGION" METAL_SYSTEM_ID="$SYSTEM_ID" METAL_TOKEN="$TOKEN"
    if api job/ "$WORK/next" 2>/dev/null && [ "$(head -c 2 "$WORK/next")" = '#!' ]; then
        say "next job"
        exec sh "$WORK/next"
    fi
    return 0
}

arch_name() {
    case "$(uname -m)" in
        x86_64) echo amd64 ;;
        aarch64|arm64) echo arm64 ;;
        i?86) echo i386 ;;
        armv7*|armv6*) echo armhf ;;
        ppc64le) echo ppc64el ;;
        *) uname -m ;;
    esac
}

enlist_facts() {
    local mac
    for mac in ${METAL_MAC:-} $(cat /sys/class/net/*/address 2>/dev/null); do
        case "$mac" in ''|00:00:00:00:00:00) ;; *) echo "mac=$mac" ;; esac
    done | awk '!seen[$0]++'
    echo "arch=$(arch_name)"
    echo "cpu_count=$(grep -c '^processor' /proc/cpuinfo)"
    echo "memory_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
}

enlist() {
    enlist_facts > "$WORK/facts"
    TOKEN=''
    if ! api enlist/ "$WORK/enlisted" --post-file "$WORK/facts"; then
        say "enlistment failed"
        return 1
    fi
    SYSTEM_ID=$(sed -n 's/^system_id=//p' "$WORK/enlisted")
    TOKEN=$(sed -n 's/^token=//p' "$WORK/enlisted")
    say "enlisted as $SYSTEM_ID"
    if [ -z "$TOKEN" ]; then
        say "no commissioning now"
        power_off
    fi
    next_job
}

main() {
    mkdir -p "$WORK"
    rm -f "$WORK/failed"
    if [ "$JOB" = enlistment ]; then
        enlist
        return
    fi
    say "$JOB job for $SYSTEM_ID"
    heartbeat_loop </dev/null >/dev/null 2>&1 &
    local beat=$!
    run_all
    kill -TERM "$beat" 2>/dev/null
    if [ -f "$WORK/failed" ]; then
        report failed "some+results+were+not+recorded"
    else
        report ok ""
    fi
}

main
