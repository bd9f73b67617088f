"""The rack's network interfaces and addresses, as reported to the region (no root needed)."""
import fcntl
import ipaddress
import json
import shutil
import socket
import struct
import subprocess
from pathlib import Path

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B


def read_interfaces() -> list[dict]:
    """[{name, mac, addresses: ["10.0.0.2/24", ...]}] from `ip -j addr`, else /sys + ioctls."""
    if shutil.which("ip"):
        try:
            return _from_ip_json(subprocess.run(
                ["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10,
                check=True).stdout)
        except (subprocess.SubprocessError, OSError, ValueError):
            pass
    return _from_sysfs()


def _from_ip_json(output: str) -> list[dict]:
    interfaces = []
    for link in json.loads(output):
        addresses = [f"{info['local']}/{info['prefixlen']}" for info in link.get("addr_info", [])
                     if info.get("local") and info.get("prefixlen") is not None]
        interfaces.append({"name": link["ifname"], "mac": link.get("address", ""),
                           "addresses": addresses})
    return interfaces


def _from_sysfs(root: Path = Path("/sys/class/net")) -> list[dict]:
    interfaces = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        address = path / "address"
        mac = address.read_text().strip() if address.exists() else ""
        ipv4 = _ipv4_address(path.name)
        interfaces.append({"name": path.name, "mac": mac, "addresses": [ipv4] if ipv4 else []})
    return interfaces


def _ipv4_address(name: str) -> str | None:
    """The interface's IPv4 address with prefix length (SIOCGIFADDR/SIOCGIFNETMASK)."""
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            address = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24]
            netmask = fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, request)[20:24]
        except OSError:
            return None
    network = ipaddress.IPv4Network(f"0.0.0.0/{socket.inet_ntoa(netmask)}")
    return f"{socket.inet_ntoa(address)}/{network.prefixlen}"
