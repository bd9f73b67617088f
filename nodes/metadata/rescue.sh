#!/bin/sh
# metal rescue job (busybox sh), rendered by the region for a machine entering rescue mode:
# docs/metadata-api.md "Rescue". Environment from /init: METAL_REGION, METAL_SYSTEM_ID,
# METAL_TOKEN; METAL_RUNNER_DIR (work directory).
#
# Installs the owner's SSH public keys (GET public-keys/) as root's authorized_keys, makes an
# ed25519 host key with dropbearkey, starts dropbear on port 22 (public key logins only) and
# reports rescue-ready/ with the address and the host key's fingerprint. The machine then stays
# up (the console shell of /init) until exit-rescue-mode powers it off or reboots it.
REGION="${METAL_REGION:-@REGION@}"
SYSTEM_ID="${METAL_SYSTEM_ID:-@SYSTEM_ID@}"
TOKEN="${METAL_TOKEN:-}"
WORK="${METAL_RUNNER_DIR:-/tmp/metal-job}/rescue"
HOST_KEY=/etc/dropbear/dropbear_ed25519_host_key
PIDFILE=/run/dropbear.pid
LOG=/tmp/dropbear.log
@LIB@

report() {  # STATUS MESSAGE [more form fields, each starting with &]
    api rescue-ready/ "$WORK/answer" --post-data "status=$1&message=$(urlencode "$2")$3"
}

fail() {
    say "rescue: $*"
    report failed "$*"
    exit 1
}

# dropbear looks root up with getpwnam (glibc: /etc/passwd) and checks its shell.
accounts() {
    grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:*:0:0:root:/root:/bin/sh' >> /etc/passwd
    grep -q '^root:' /etc/group 2>/dev/null || echo 'root:x:0:' >> /etc/group
    grep -qx /bin/sh /etc/shells 2>/dev/null || echo /bin/sh >> /etc/shells
}

install_keys() {
    mkdir -p /root/.ssh
    chmod 700 /root /root/.ssh
    api public-keys/ "$WORK/keys" || fail "could not fetch the SSH keys"
    grep -E '^(ssh-|ecdsa-|sk-)' "$WORK/keys" > /root/.ssh/authorized_keys.tmp
    chmod 600 /root/.ssh/authorized_keys.tmp
    mv -f /root/.ssh/authorized_keys.tmp /root/.ssh/authorized_keys
    keys=$(grep -c . /root/.ssh/authorized_keys)
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start_dropbear() {
    mkdir -p /dev/pts /etc/dropbear /run
    grep -q ' /dev/pts ' /proc/mounts || mount -t devpts devpts /dev/pts 2>/dev/null
    if [ ! -s "$HOST_KEY" ]; then
        dropbearkey -t ed25519 -f "$HOST_KEY" > "$WORK/hostkey" 2>&1 \
            || fail "dropbearkey failed: $(tail -n 1 "$WORK/hostkey")"
    fi
    fingerprint=$(dropbearkey -y -f "$HOST_KEY" | sed -n 's/^Fingerprint: *//p' \
        | awk '{ print $NF }')
    if running; then
        say "dropbear already running (pid $(cat "$PIDFILE"))"
        return
    fi
    dropbear -r "$HOST_KEY" -p 22 -s -E -P "$PIDFILE" 2>> "$LOG" \
        || fail "dropbear did not start: $(tail -n 1 "$LOG")"
    n=0
    while ! netstat -ltn 2>/dev/null | grep -q ':22 '; do
        n=$((n + 1))
        [ "$n" -gt 10 ] && fail "dropbear is not listening on port 22: $(tail -n 1 "$LOG")"
        sleep 1
    done
}

main() {
    mkdir -p "$WORK"
    say "rescue job for $SYSTEM_ID"
    command -v dropbear > /dev/null \
        || fail "no dropbear in this ephemeral image (rebuild it: manage.py import_boot_images)"
    accounts
    install_keys
    start_dropbear
    ip=$(my_ip)
    if ! report ok "" "&ip=$ip&host_key=$(urlencode "$fingerprint")&keys=$keys"; then
        say "could not report that rescue mode is up"
        return 1
    fi
    say "rescue mode: ssh root@$ip (host key $fingerprint, $keys authorized key(s))"
}

main
