"""Libvirt domain XML for the virsh driver: boot order rewriting, MACs and architecture."""
from __future__ import annotations

import xml.etree.ElementTree as ET

# libvirt's <boot dev=...> names for our boot devices.
BOOT_DEVS = {"pxe": "network", "disk": "hd"}
# Which devices carry per-device <boot order=...> for each of those.
DEVICE_TAGS = {"network": "interface", "hd": "disk"}
# libvirt's <os><type arch=...> -> MAAS architecture.
ARCHITECTURES = {"x86_64": "amd64/generic", "i686": "i386/generic",
                 "aarch64": "arm64/generic", "ppc64le": "ppc64el/generic",
                 "s390x": "s390x/generic"}
# Keep the prefixes of namespaced elements (<qemu:commandline>) when XML is written back.
ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")


def domain_macs(xml: str) -> tuple[str, ...]:
    """The MAC of every <interface>, in document order, lower case."""
    root = ET.fromstring(xml)
    macs = (mac.get("address", "").lower() for mac in root.iterfind("./devices/interface/mac"))
    return tuple(mac for mac in macs if mac)


def domain_architecture(xml: str) -> str:
    """"amd64/generic" for an x86_64 domain, and so on; "" when unknown."""
    os_type = ET.fromstring(xml).find("./os/type")
    return ARCHITECTURES.get(os_type.get("arch", "") if os_type is not None else "", "")


def first_boot_device(xml: str) -> str:
    """The libvirt device ("network", "hd", ...) the domain boots first; "" if unknown."""
    root = ET.fromstring(xml)
    ordered = _per_device_boot(root)
    if ordered:
        return next((dev for dev, tag in DEVICE_TAGS.items() if tag == ordered[0][1].tag), "")
    boot = root.find("./os/boot")
    return boot.get("dev", "") if boot is not None else ""


def with_boot_first(xml: str, device: str) -> str:
    """The domain XML with `device` ("pxe" or "disk") booted first, the rest after it.

    Domains that order their devices (<boot order=N/> on disks and NICs) keep that style: the
    first device of the wanted kind takes order 1 and the others follow in their old order.
    Otherwise the <os><boot dev=.../> list is rewritten: the wanted device, then the others.
    """
    dev = BOOT_DEVS[device]
    root = ET.fromstring(xml)
    ordered = _per_device_boot(root)
    if ordered:  # libvirt refuses <os><boot> beside per-device orders
        _reorder_devices(root, dev, ordered)
    else:
        _reorder_os_boot(root, dev)
    return ET.tostring(root, encoding="unicode")


def _per_device_boot(root: ET.Element) -> list[tuple[int, ET.Element]]:
    """(order, device element) of every device with <boot order=...>, by order."""
    found = []
    for element in root.iterfind("./devices/*"):
        boot = element.find("boot")
        if boot is not None and boot.get("order", "").isdigit():
            found.append((int(boot.get("order")), element))
    return sorted(found, key=lambda pair: pair[0])


def _device_of(root: ET.Element, dev: str) -> ET.Element | None:
    return root.find(f"./devices/{DEVICE_TAGS[dev]}")


def _reorder_devices(root: ET.Element, dev: str, ordered: list) -> None:
    wanted = next((el for _, el in ordered if el.tag == DEVICE_TAGS[dev]), None)
    if wanted is None:
        wanted = _device_of(root, dev)
    if wanted is None:
        return  # nothing of that kind to boot from: leave the order alone
    devices = [wanted] + [el for _, el in ordered if el is not wanted]
    for order, element in enumerate(devices, 1):
        boot = element.find("boot")
        if boot is None:
            boot = ET.SubElement(element, "boot")
        boot.set("order", str(order))


def _reorder_os_boot(root: ET.Element, dev: str) -> None:
    os_element = root.find("./os")
    if os_element is None:
        os_element = ET.SubElement(root, "os")
    old = [boot.get("dev", "") for boot in os_element.findall("boot")]
    for boot in os_element.findall("boot"):
        os_element.remove(boot)
    other = "hd" if dev == "network" else "network"
    wanted = [dev, other] + [d for d in old if d and d not in (dev, other)]
    for name in wanted:
        ET.SubElement(os_element, "boot", dev=name)
