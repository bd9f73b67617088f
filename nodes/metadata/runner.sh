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
# 1: the region held scripts back (for_hardware, recommission): ask again after these.
MORE=@MORE@
WORK="${METAL_RUNNER_DIR:-/tmp/metal-job}/$JOB"
# This file: a may_reboot script's `metal-save-output` calls it back to upload its output.
SELF=$(readlink -f "$0" 2>/dev/null || echo "$0")
# One line per script in name order: result id, name, timeout (s, 0: none), parallel,
# may_reboot (0/1), has_started (1: it rebooted the machine and runs again).
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

# execute DIR: run DIR/script in its own session; stdout, stderr and both (combined) appended
# to files (empty, or what a resumed may_reboot script printed before the reboot).
execute() {
    local dir="$1"
    cd "$dir" || return 1
    { { { setsid sh -c 'echo $$ > "$1/pid"; exec ./script' sh "$dir"; echo $? > "$dir/rc"; } \
        | tee -a "$dir/stdout"; } 2>&1 1>&3 | tee -a "$dir/stderr"; } >> "$dir/output" 3>&1
}

# may_reboot DIR ID: `metal-save-output` on the script's PATH uploads what it printed so far:
# it calls that before rebooting (busybox sh runs its reboot applet, never a wrapper on PATH, and
# the reboot ends the runner before it could upload); and an upload every 2 s meanwhile.
may_reboot() {
    mkdir -p "$1/bin"
    printf '#!/bin/sh\n# metal: upload the output so far (call it before rebooting)\n' \
        > "$1/bin/metal-save-output"
    printf 'exec sh %s flush %s %s\n' "'$SELF'" "$2" "'$1'" >> "$1/bin/metal-save-output"
    chmod +x "$1/bin/metal-save-output"
    flush_loop "$2" "$1" </dev/null >/dev/null 2>&1 &
    echo $! > "$1/flusher"
}

flush_loop() {  # ID DIR, until killed (TERM)
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
        sleep 2 &
        nap=$!
        wait "$nap"
        flush "$1" "$2"
    done
}

# flush ID DIR: the output so far, best effort (the final upload still has to succeed).
flush() {
    local pair
    for pair in stdout:stdout stderr:stderr combined:output; do
        api "results/$1/output/?stream=${pair%%:*}" /dev/null --post-file "$2/${pair#*:}" || :
    done
}

# resume ID DIR: the output the script sent before it rebooted the machine, to append to.
resume() {
    local stream
    for stream in stdout stderr combined; do
        api "results/$1/output/?stream=$stream" "$2/$stream.before" || : > "$2/$stream.before"
    done
    mv "$2/stdout.before" "$2/stdout"
    mv "$2/stderr.before" "$2/stderr"
    mv "$2/combined.before" "$2/output"
    echo "metal: the machine rebooted; running the script again (HAS_STARTED=True)" \
        >> "$2/output"
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

run_one() {  # ID NAME TIMEOUT MAY_REBOOT HAS_STARTED
    local id="$1" name="$2" limit="$3" dir="$WORK/$1" start rc runtime timed_out=0 dog=''
    local started=False path="$PATH"
    rm -rf "$dir"  # a built-in run again after a recommission script starts afresh
    mkdir -p "$dir"
    : > "$dir/stdout"; : > "$dir/stderr"; : > "$dir/output"
    if ! api "scripts/$id/" "$dir/script"; then
        say "$name: cannot download the script"
        post "results/$id/finish/" "exit_status=127&runtime=0&timed_out=0" || failed
        return
    fi
    chmod +x "$dir/script"
    if [ "${5:-0}" = 1 ]; then
        started=True
        resume "$id" "$dir"
    fi
    post "results/$id/start/" || failed
    say "running $name (timeout ${limit}s$([ "${4:-0}" = 1 ] && echo ', may reboot'))"
    if [ "${4:-0}" = 1 ]; then
        may_reboot "$dir" "$id"
        path="$dir/bin:$PATH"
    fi
    start=$(now)
    ( script_env "$id"; export RESULT_PATH="$dir/result" HAS_STARTED="$started" PATH="$path"
      execute "$dir" ) </dev/null &
    local job=$!
    if [ "$limit" -gt 0 ]; then
        watchdog "$dir" "$limit" </dev/null >/dev/null 2>&1 &
        dog=$!
    fi
    wait "$job"
    [ -n "$dog" ] && kill "$dog" 2>/dev/null
    if [ -f "$dir/flusher" ]; then  # its last upload ends before the final one starts
        kill -TERM "$(cat "$dir/flusher")" 2>/dev/null
        wait "$(cat "$dir/flusher")" 2>/dev/null
    fi
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
    local batch='' id name limit parallel reboots started pid
    while read -r id name limit parallel reboots started; do
        [ -n "$id" ] || continue
        if [ "$parallel" = disabled ]; then
            for pid in $batch; do wait "$pid"; done
            batch=''
            run_one "$id" "$name" "$limit" "$reboots" "$started"
        else
            run_one "$id" "$name" "$limit" "$reboots" "$started" &
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

# The region held scripts back: ask for them (a new file: sh reads the running one as it goes).
next_batch() {
    local file
    export METAL_REGION="$REGION" METAL_SYSTEM_ID="$SYSTEM_ID" METAL_TOKEN="$TOKEN"
    file=$(mktemp "$WORK/batch.XXXXXX") || return 1
    if api job/ "$file" && [ "$(head -c 2 "$file")" = '#!' ]; then
        say "next scripts"
        exec sh "$file"
    fi
    return 1
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
    elif [ "$MORE" = 1 ]; then
        next_batch || report failed "could+not+fetch+the+next+scripts"
    else
        report ok ""
    fi
}

if [ "${1:-}" = flush ]; then  # a may_reboot script's metal-save-output: ID DIR
    flush "$2" "$3"
    exit 0
fi
main
