# Region controller: `make run` (everything on this machine, no configuration) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 5240
WEB_WORKERS ?= 2
# The rack listener: the rack API alone on its own port and workers, so that heartbeats and boot
# decisions never wait behind operator or metadata requests (README, "Processes and ports").
# Threads: an image download (rack/images/) must not hold the listener from a heartbeat.
RACK_API_PORT ?= 5241
RACK_WEB_WORKERS ?= 1
RACK_WEB_THREADS ?= 8
# The web access log's level: DEBUG shows the racks' routine polling too (maasproject/accesslog.py).
WEB_LOG_LEVEL ?= INFO
export WEB_LOG_LEVEL
ADMIN_USER ?= admin
RACK ?= local
# The local rack's TFTP and HTTP boot listen here (bootsvc --bind): HOST, so that a first run
# opens nothing beyond it; BOOTSVC_BIND=0.0.0.0 (or HOST=0.0.0.0) to netboot real machines.
BOOTSVC_BIND ?= $(HOST)
# make run DEPLOYABLE=debian/bookworm: also build (once; later runs find it up to date) and
# register a real OS to deploy (mmdebstrap, root: a few minutes and ~200 MB).
DEPLOYABLE ?=
PYTEST_ARGS ?=
DEMO_VMS ?= 2
# make demo SIMULATED=1: simulated machines instead of qemu VMs (no root, no qemu).
SIMULATED ?=
# State (SQLite database, filesystem broker, static files, generated secrets) lives here. The
# simulated demo keeps its own (its machines, loopback subnet and stand-in image stay out of
# make run's database).
ifeq ($(SIMULATED),1)
VAR_DIR ?= $(CURDIR)/var/simulated
endif
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR

.PHONY: help venv install install-dev run prepare images admin test lint clean sysdeps builddeps demo ha-demo

help:
	@echo "make run    migrate, create an admin and an API key, start web + worker + beat on $(HOST):$(PORT)"
	@echo "            (and the rack listener on $(HOST):$(RACK_API_PORT), which the local rack uses)"
	@echo "make test   ruff, import contracts, pytest (PostgreSQL + Redis when CI=true)"
	@echo "make lint   ruff and import contracts only"
	@echo "make demo   the region (no local rack) plus the lab: $(DEMO_VMS) qemu VMs with IPMI BMCs and"
	@echo "            a rack in network namespaces, VMs registered as machines; Ctrl-C removes it"
	@echo "            (python -m lab up|down|status: the lab alone, see README \"Lab\")"
	@echo "make demo SIMULATED=1"
	@echo "            no hardware, qemu or root: the region, a local rack and $(DEMO_VMS) simulated"
	@echo "            machines (fake BMCs, python -m lab.sim) that enlist and commission by"
	@echo "            themselves, then deploy and release through the API; state in var/simulated"
	@echo "make ha-demo two regions behind HAProxy, PostgreSQL primary and standby (Patroni),"
	@echo "            Sentinel-managed Redis and one rack, all local processes on spare ports;"
	@echo "            HAProxy on 127.0.0.1:$(HA_DEMO_PORT); Ctrl-C stops them all"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)


venv: $(BIN)/python

# Stamp files: pip runs again only when a requirements file changes.
$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python builddeps
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python builddeps
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

prepare: install
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput -v 0

# The default ephemeral boot image, built from this host's Debian packages on first start (a
# second run finds it up to date and does nothing). Without apt (not Debian, not root) make run
# goes on without it: machines then cannot netboot until an image is uploaded.
images: prepare
	if ! $(MANAGE) import_boot_images; then
	    echo "WARNING: the default boot image could not be built; upload one through /api/v1/boot-resources/" >&2
	fi
	if [ -n "$(DEPLOYABLE)" ]; then
	    $(MANAGE) import_boot_images --deployable "$(DEPLOYABLE)" \
	        || echo "WARNING: $(DEPLOYABLE) could not be built (needs root and mmdebstrap)" >&2
	else
	    echo "To deploy Debian 12: make run DEPLOYABLE=debian/bookworm (builds it once with mmdebstrap)"
	fi

# Create an admin on first run; its password and API key are kept in $(VAR_DIR)/admin-credentials
# (mode 0600) and shown again on every run.
admin: prepare
	@creds="$(VAR_DIR)/admin-credentials"
	has_admin="import sys; from django.contrib.auth import get_user_model as U; \
	sys.exit(0 if U().objects.filter(is_superuser=True).exists() else 3)"
	if ! $(MANAGE) shell --no-imports -v 0 -c "$$has_admin"; then
	    umask 077
	    created=$$($(MANAGE) createadmin --username "$(ADMIN_USER)")
	    key=$$($(MANAGE) apikey --username "$(ADMIN_USER)" | tail -n 1)
	    printf '%s\nAPI key: %s\n' "$$created" "$$key" > "$$creds"
	fi
	echo "-------------------------------------------------------------------------------"
	if [ -s "$$creds" ]; then
	    echo "Administrator (saved in $$creds):"
	    cat "$$creds"
	else
	    echo "An administrator already exists (not made by make run). Make an API key with:"
	    echo "  $(MANAGE) apikey --username USERNAME"
	fi
	echo "API: http://$(HOST):$(PORT)/api/v1/ (docs: /api/v1/docs/)  Admin: http://$(HOST):$(PORT)/admin/"
	echo "Racks: http://$(HOST):$(RACK_API_PORT)/ (the rack API alone; $(PORT) serves it too)"
	echo "-------------------------------------------------------------------------------"

# Web, worker and beat each run in their own process group (set -m); the trap stops all of them
# on Ctrl-C, on SIGTERM to make or to this shell, and when any one of them exits.
run: admin images
	@pgids=()
	stop() {
	    trap - EXIT INT TERM
	    echo "Stopping web, rack listener, worker, beat and rack..."
	    for g in "$${pgids[@]}"; do kill -TERM "$$g" 2>/dev/null || true; done
	    for _ in $$(seq 1 40); do
	        alive=0
	        for g in "$${pgids[@]}"; do kill -0 -- "-$$g" 2>/dev/null && alive=1; done
	        [ $$alive = 0 ] && return 0
	        sleep 0.5
	    done
	    for g in "$${pgids[@]}"; do kill -KILL -- "-$$g" 2>/dev/null || true; done
	}
	trap stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	set -m
	REGION_LISTENER=main $(BIN)/gunicorn maasproject.wsgi --bind "$(HOST):$(PORT)" \
	    --workers $(WEB_WORKERS) --backlog 4096 \
	    --access-logfile - --logger-class maasproject.accesslog.AccessLogger \
	    --control-socket "$(VAR_DIR)/gunicorn.ctl" & pgids+=($$!)
	# The rack listener sends booting machines to $(PORT) (REGION_PORT): it has no metadata API.
	REGION_LISTENER=rack REGION_PORT="$(PORT)" $(BIN)/gunicorn maasproject.wsgi \
	    --bind "$(HOST):$(RACK_API_PORT)" --worker-class gthread --workers $(RACK_WEB_WORKERS) \
	    --threads $(RACK_WEB_THREADS) --access-logfile - \
	    --logger-class maasproject.accesslog.AccessLogger \
	    --control-socket "$(VAR_DIR)/gunicorn-rack.ctl" & pgids+=($$!)
	$(BIN)/celery -A maasproject worker -Q region -l info --hostname "region@%h" & pgids+=($$!)
	$(BIN)/celery -A maasproject beat -l info & pgids+=($$!)
	# The local rack: registers with the shared secret, read from its 0600 file (never argv or
	# the environment), then heartbeats and runs its rack.$(RACK) worker once the web is up.
	$(MANAGE) rack_secret >/dev/null
	BOOTSVC_BIND="$(BOOTSVC_BIND)" $(BIN)/python -m rack_worker.rackd \
	    --secret-file "$(VAR_DIR)/rack_secret" --region-url "http://$(HOST):$(RACK_API_PORT)/" \
	    --name "$(RACK)" & pgids+=($$!)
	set +m
	echo "Started web, rack listener, worker, beat and rack $(RACK) (process groups $${pgids[*]});" \
	    "Ctrl-C stops them all."
	wait -n || true
	echo "A process exited."
	exit 1

# The lab (python -m lab.demo): region web, worker and beat on 127.0.0.1:$(PORT) as `run` starts
# them, but no local rack: the lab's rack (in a namespace) serves the VMs, and a rack in the root
# namespace could send DHCP or IPMI out of it. Root and qemu needed; Ctrl-C tears all down.
# SIMULATED=1 (lab/simdemo.py): a local rack without boot services and simulated machines
# instead; no ephemeral image to build, no system packages, no root.
ifeq ($(SIMULATED),1)
demo: admin
else
demo: admin images sysdeps
endif
	@exec $(BIN)/python -m lab.demo $(if $(filter 1,$(SIMULATED)),--simulated )--port "$(PORT)" \
	    --vms "$(DEMO_VMS)" --web-workers "$(WEB_WORKERS)"

# The README's HA layout on this machine (python -m lab.ha.demo): two region hosts, Patroni
# primary and standby with one etcd, Redis master, replica and three Sentinels, HAProxy, one rack
# without boot services; spare ports, never the shared PostgreSQL or Redis. Needs haproxy,
# patroni, etcd and redis-server (make sysdeps).
HA_DEMO_PORT ?= 5250
ha-demo: install
	@exec $(BIN)/python -m lab.ha.demo --port "$(HA_DEMO_PORT)"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache --no-logo

# Independent protocol peers the tests talk to (ipmitool, qemu, DHCP and TFTP clients, perfdhcp,
# pxelinux, OVMF with Debian's signed shim and GRUB for UEFI VMs), and the test OS's disk tools
# (syslinux, mtools, mkfs.fat, sfdisk, zstd; busybox for the boot test's udhcpd), and Juju's MAAS
# client (gomaasapi, built with go in GOPATH mode by tests/maasapi/test_gomaasapi.py). Installed
# with apt-get when running as root and missing; elsewhere those tests skip with a reason (never
# when CI=true).
SYSTEM_PACKAGES := ipmitool:ipmitool qemu-system-x86:qemu-system-x86_64 udhcpc:udhcpc \
    isc-dhcp-client:dhclient kea-admin:perfdhcp tftp-hpa:tftp curl:curl \
    pxelinux:/usr/lib/PXELINUX/lpxelinux.0 \
    syslinux-common:/usr/lib/syslinux/modules/bios/ldlinux.c32 kmod:depmod ndisc6:rdisc6 \
    syslinux:syslinux mtools:mcopy dosfstools:mkfs.fat fdisk:sfdisk zstd:zstd busybox:busybox \
    openssh-client:ssh mount:losetup libc-bin:ldd extlinux:extlinux e2fsprogs:debugfs \
    redis-server:redis-server golang-go:go ovmf:/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
    shim-signed:/usr/lib/shim/shimx64.efi.signed ipxe:/usr/lib/ipxe/snponly.efi \
    grub-efi-amd64-signed:/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed \
    golang-github-juju-gomaasapi-dev:/usr/share/gocode/src/github.com/juju/gomaasapi/controller.go \
    mmdebstrap:mmdebstrap sbsigntool:sbverify lvm2:lvm haproxy:haproxy \
    patroni:patroni etcd-server:etcd chromium:chromium chromium-driver:chromedriver \
    libvirt-daemon-system:/usr/sbin/libvirtd libvirt-clients:virsh \
    openssh-server:/usr/sbin/sshd
# libvirt-python (the virsh power driver, in requirements.txt) compiles against these, so pip
# needs them first: `make install` installs them with apt-get as root; elsewhere install them
# (apt-get install libvirt-dev pkg-config) before `make run`.
BUILD_PACKAGES := libvirt-dev:/usr/include/libvirt/libvirt.h pkg-config:pkg-config
builddeps:
	@$(MAKE) --no-print-directory sysdeps SYSTEM_PACKAGES="$(BUILD_PACKAGES)"
sysdeps:
	@missing=()
	for entry in $(SYSTEM_PACKAGES); do
	    need="$${entry#*:}"  # a command, or a file the package installs
	    if [[ $$need == /* ]]; then [ -e "$$need" ]; else command -v "$$need" >/dev/null; fi \
	        || missing+=("$${entry%%:*}")
	done
	if (($${#missing[@]})) && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	    echo "Installing $${missing[*]}"
	    apt-get update -q >/dev/null
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$${missing[@]}"
	elif (($${#missing[@]})); then
	    echo "Not installed (tests that need them will skip): $${missing[*]}" >&2
	fi

test: lint sysdeps
	rc=0
	$(BIN)/pytest $(PYTEST_ARGS) || rc=$$?
	if [ $$rc = 5 ]; then echo "pytest collected no tests: that is a failure here." >&2; fi
	exit $$rc

clean:
	rm -rf .pytest_cache .ruff_cache .import_linter_cache $(VAR_DIR)/static
