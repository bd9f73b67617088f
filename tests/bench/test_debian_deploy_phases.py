"""bench/debian_deploy_phases.py: a Debian deploy's timeline cut into phases and our share."""
from datetime import UTC, datetime

import pytest

from bench.debian_deploy_phases import (
    CLOUD_INIT,
    FIRST_BOOT,
    NETBOOT,
    PASS1,
    WRITE,
    deploy_timing,
    summary,
)

T0 = 1_800_000_000.0
IMAGE = "images/deployable/amd64/generic/bookworm/root.tar.zst"


def event(seconds: float, type_: str, description: str = "") -> dict:
    created = datetime.fromtimestamp(T0 + seconds, tz=UTC).isoformat().replace("+00:00", "Z")
    return {"id": int(seconds * 1000), "created": created, "type": type_,
            "description": description}


def deploy_events() -> list[dict]:
    """A BIOS deploy as the region records it (the rack's descriptions included)."""
    return [
        event(-5, "boot_decision", "Boot decision for 52:54:00:99:00:01: local (asked by rack r)"),
        event(0, "deploy_job", "deploy debian/bookworm (tzst, 200 bytes) to /dev/vda"),
        event(0.1, "deploy", "debian/bookworm"),
        event(0.2, "job_started", "deploy job: netbooting the machine"),
        event(2, "power_on", "Power on done via r: on"),
        event(10, "dhcp_discover", "DHCPDISCOVER from 52:54:00:99:00:01"),
        event(14, "boot_decision", "Boot decision for 52:54:00:99:00:01: deploy (asked by rack r)"),
        event(20, "http_file", "HTTP GET images/ephemeral/amd64/linux (9 bytes) (rack r)"),
        event(30, "http_file", "HTTP GET images/ephemeral/amd64/initrd.gz (9 bytes) (rack r)"),
        event(60, "dhcp_discover", "DHCPDISCOVER from 52:54:00:99:00:01"),
        event(62, "script_started", "write-image started"),
        event(70, "http_file", f"HTTP GET {IMAGE} aborted after 5 of 200 bytes: reset (rack r)"),
        event(80, "http_file", f"HTTP GET {IMAGE} (200 bytes) (rack r)"),
        event(150, "http_file", f"HTTP GET {IMAGE} (200 bytes) (rack r)"),
        # The runner reports 120.5 s from its start: 1.5 s of uploads before this Event.
        event(184, "script_finished", "write-image: Passed (exit 0) in 120.5 s"),
        event(185, "deploy_image_written", "image debian/bookworm written; netboot off"),
        event(215, "boot_decision", "Boot decision for 52:54:00:99:00:01: local (asked by rack r)"),
        event(260, "cloudinit", "cloud-init start init-network: searching for network datasources"),
        event(290, "cloudinit", "cloud-init finish modules-final/config-scripts-user WARN: x"),
        event(300, "cloudinit", "cloud-init finish modules-final SUCCESS: running modules"),
        event(300.5, "deployed", "deployed OS reported in"),
        event(301, "status_succeeded", "Deploying → Deployed"),
    ]


def test_phases_and_our_share_of_a_whole_timeline():
    timing = deploy_timing(deploy_events(), T0 - 1)

    assert timing.missing == []
    assert timing.wall == pytest.approx(300.9)
    assert timing.phases == pytest.approx({NETBOOT: 61.9, PASS1: 18, WRITE: 105,
                                           FIRST_BOOT: 75, CLOUD_INIT: 41})
    # Power on (1.9) + ephemeral DHCP → runner (2) + pass 1 (18) + uploads (1.5) + status/ (1)
    # + modules-final → Deployed (1).
    assert timing.ours == pytest.approx(25.4)
    assert sum(timing.phases.values()) == pytest.approx(timing.wall)


def test_a_missing_milestone_joins_the_next_interval():
    events = [e for e in deploy_events() if "initrd" not in e["description"]]

    timing = deploy_timing(events, T0 - 1)

    assert timing.missing == ["ephemeral initrd served"]
    assert timing.phases[NETBOOT] == pytest.approx(61.9)


def test_events_before_the_start_are_not_read():
    timing = deploy_timing(deploy_events(), T0 - 0.5)

    # The earlier "local" decision is not this deploy's: the first boot starts after it.
    assert timing.marks["local boot decision"] == 15
    assert timing.phases[FIRST_BOOT] == pytest.approx(75)


def test_summary_medians_maxima_and_shares():
    fast = deploy_timing(deploy_events(), T0 - 1)
    slow = deploy_timing([e for e in deploy_events() if e["type"] != "script_finished"],
                         T0 - 1)

    rows = {what: rest for what, *rest in summary([fast, slow])}

    assert rows["deploy → Deployed"] == pytest.approx([300.9, 300.9, 1.0])
    assert rows[PASS1] == pytest.approx([18, 18, 36 / 601.8])
    # Without script_finished neither the uploads nor status/ are known apart from the write:
    # 2.5 s less of ours, never the write's 33 s more.
    assert rows["our share"] == pytest.approx([24.15, 25.4, 48.3 / 601.8])
