"""Boot configs rendered for every action and loader."""

import pytest

from bootsvc import bootconfig

BASE = "http://10.0.0.2:5248"
MAC = "52:54:00:12:34:56"
PARAMS = "console=ttyS0 metal.region=http://region:5240/ metal.system_id=x7k2pq"
EPHEMERAL = sorted(bootconfig.EPHEMERAL_ACTIONS)


def decision(action, **extra):
    return {
        "mac": MAC, "action": action, "system_id": "x7k2pq", "hostname": "node1",
        "arch": "amd64/generic", "kernel": "images/ephemeral/amd64/linux",
        "initrd": "images/ephemeral/amd64/initrd.gz", "kernel_params": PARAMS, **extra,
    }


def expected_params(action):
    extra = {"poweroff": " metal.poweroff=1", "deploy": f" metal.images={BASE}/"}
    return PARAMS + extra.get(action, "")


@pytest.mark.parametrize("action", EPHEMERAL)
def test_pxelinux_ephemeral(action):
    text = bootconfig.render_pxelinux(decision(action), BASE)
    assert f"DEFAULT {action}\n" in text
    assert f"  KERNEL {BASE}/images/ephemeral/amd64/linux\n" in text
    assert f"  INITRD {BASE}/images/ephemeral/amd64/initrd.gz\n" in text
    assert f"  APPEND {expected_params(action)}\n" in text
    assert "IPAPPEND 2" in text
    assert "LOCALBOOT" not in text


@pytest.mark.parametrize("action", EPHEMERAL)
def test_grub_ephemeral(action):
    text = bootconfig.render_grub(decision(action), BASE)
    bootif = "BOOTIF=01-52-54-00-12-34-56"
    assert (
        f"    linux /images/ephemeral/amd64/linux "
        f"{expected_params(action)} {bootif}\n"
    ) in text
    assert "    initrd /images/ephemeral/amd64/initrd.gz\n" in text
    assert "set timeout=0" in text


@pytest.mark.parametrize("action", EPHEMERAL)
def test_ipxe_ephemeral(action):
    text = bootconfig.render_ipxe(decision(action), BASE)
    assert text.startswith("#!ipxe\n")
    assert (
        f"kernel {BASE}/images/ephemeral/amd64/linux initrd=initrd.gz "
        f"{expected_params(action)} BOOTIF=01-52-54-00-12-34-56 || goto failed\n"
    ) in text
    assert f"initrd {BASE}/images/ephemeral/amd64/initrd.gz || goto failed\n" in text
    assert "boot || goto failed\n" in text


def test_local_boot_for_every_loader():
    local = decision("local", kernel=None, initrd=None)
    pxe = bootconfig.render_pxelinux(local, BASE)
    assert "DEFAULT local" in pxe and "  LOCALBOOT 0\n" in pxe and "KERNEL" not in pxe
    grub = bootconfig.render_grub(local, BASE)
    assert "chainloader $loader" in grub and "    exit\n" in grub and "linux" not in grub
    ipxe = bootconfig.render_ipxe(local, BASE)
    assert "iseq ${platform} efi && exit ||\n" in ipxe
    assert "sanboot --no-describe --drive 0x80 || exit\n" in ipxe


def test_poweroff_param_not_doubled():
    text = bootconfig.render_pxelinux(decision("poweroff", kernel_params="quiet metal.poweroff=1"),
                                      BASE)
    assert "  APPEND quiet metal.poweroff=1\n" in text


def test_default_config_without_mac():
    text = bootconfig.render_pxelinux(decision("enlist", mac=None), BASE)
    assert "for any machine" in text and "IPAPPEND 2" in text
    assert "BOOTIF" not in bootconfig.render_grub(decision("enlist", mac=None), BASE)


def test_bootstrap_scripts():
    assert "configfile /grub/grub.cfg-${net_default_mac}" in bootconfig.render_grub_bootstrap()
    ipxe = bootconfig.render_ipxe_bootstrap(BASE)
    assert ipxe.startswith("#!ipxe\n")
    assert f"chain {BASE}/ipxe/${{netX/mac:hexhyp}}.ipxe" in ipxe


@pytest.mark.parametrize("bad", [
    {"action": "explode"},
    {"kernel": "../../etc/shadow"},
    {"kernel": "images/linux\nKERNEL evil"},
    {"kernel_params": "quiet\nLOCALBOOT 0"},
    {"initrd": None},
])
def test_unsafe_decisions_refused(bad):
    with pytest.raises(bootconfig.BootConfigError):
        bootconfig.render_pxelinux(decision("commission") | bad, BASE)


def test_comment_fields_cannot_inject():
    text = bootconfig.render_ipxe(decision("commission", hostname="x\nshell ${evil} @action"), BASE)
    assert "\nshell" not in text and "${evil}" not in text


@pytest.mark.parametrize(("raw", "mac"), [
    ("52:54:00:12:34:56", MAC), ("52-54-00-12-34-56", MAC), ("525400123456", MAC),
    ("52:54:00:12:34", None), ("52:54-00:12:34:56", None), ("zz:54:00:12:34:56", None),
])
def test_normalise_mac(raw, mac):
    assert bootconfig.normalise_mac(raw) == mac


def test_http_base():
    assert bootconfig.http_base("10.0.0.2") == "http://10.0.0.2:5248"
    assert bootconfig.http_base("fd00::2", 80) == "http://[fd00::2]:80"
    with pytest.raises(bootconfig.BootConfigError):
        bootconfig.http_base("evil host")
