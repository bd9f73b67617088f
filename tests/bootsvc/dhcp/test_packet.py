"""Unit tests: packet parse/build round trips, option encoding, PXE boot-file choice."""
import pytest

from bootsvc.dhcp import pxe
from bootsvc.dhcp.packet import (
    MalformedPacket,
    Packet,
    build,
    encode_option,
    format_mac,
    parse,
    parse_mac,
)
from tests.bootsvc.dhcp.helpers import arch


def sample() -> Packet:
    pkt = Packet(xid=0x12345678, chaddr=bytes.fromhex("525400123456").ljust(16, b"\0"))
    pkt.flags, pkt.giaddr, pkt.hops = 0x8000, b"\x0a\x00\x01\x01", 1
    pkt.options = {53: b"\x01", 55: bytes([1, 3, 6, 12, 15, 26, 43, 66, 67]), 60: b"PXEClient",
                   61: b"\x01" + bytes.fromhex("525400123456"), 93: arch(7), 94: b"\x01\x03\x10",
                   97: bytes(17), 77: b"iPXE", 82: b"\x01\x04eth0\x02\x02ab", 12: b"node1",
                   50: b"\x0a\x00\x00\x64", 51: b"\x00\x00\x0e\x10"}
    return pkt


def test_round_trip_keeps_every_field_and_option():
    original = sample()
    data = build(original)
    assert len(data) >= 300 and data[236:240] == b"\x63\x82\x53\x63"
    parsed = parse(data)
    for name in ("xid", "flags", "giaddr", "hops", "chaddr", "ciaddr", "yiaddr", "siaddr"):
        assert getattr(parsed, name) == getattr(original, name)
    assert parsed.options == original.options
    assert parsed.message_type == 1 and parsed.broadcast
    assert format_mac(parsed.mac) == "52:54:00:12:34:56"
    assert parse_mac("52-54-00-12-34-56") == parsed.mac


def test_long_option_is_split_and_concatenated():
    value = bytes(range(256)) * 2
    encoded = encode_option(43, value)
    assert encoded[0] == 43 and encoded[1] == 255 and encoded[257] == 43
    pkt = Packet(chaddr=bytes(16))
    pkt.options = {53: b"\x01", 43: value}
    assert parse(build(pkt)).options[43] == value


def test_overloaded_file_field_options_are_read():
    pkt = Packet(chaddr=bytes(16))
    pkt.options = {53: b"\x01", 52: b"\x01"}
    pkt.file = encode_option(12, b"fromfile") + b"\xff"
    assert parse(build(pkt)).options[12] == b"fromfile"


@pytest.mark.parametrize("data", [
    b"", b"\x01" * 100, bytes(240), bytes(236) + b"\x63\x82\x53\x63" + b"\x35\x05\x01",
])
def test_malformed_packets_raise(data):
    with pytest.raises(MalformedPacket):
        parse(data)


@pytest.mark.parametrize(("options", "file", "vendor"), [
    ({93: arch(0), 60: b"PXEClient:Arch:00000"}, "lpxelinux.0", b"PXEClient"),
    ({93: arch(7), 60: b"PXEClient:Arch:00007"}, "bootx64.efi", b"PXEClient"),
    ({93: arch(9)}, "bootx64.efi", b"PXEClient"),
    ({93: arch(16), 60: b"HTTPClient:Arch:00016"}, "http://10.0.0.2:5248/snponly.efi",
     b"HTTPClient"),
    ({93: arch(0), 77: b"iPXE"}, "lpxelinux.0", b"PXEClient"),
    ({77: b"iPXE"}, "http://10.0.0.2:5248/ipxe/boot.ipxe", b"PXEClient"),
    ({93: arch(7), 77: b"\x04iPXE"}, "http://10.0.0.2:5248/ipxe/boot.ipxe", b"PXEClient"),
])
def test_boot_file_by_architecture_and_user_class(options, file, vendor):
    choice = pxe.choose(options, "10.0.0.2", 5248)
    assert (choice.file, choice.vendor_class) == (file, vendor)
    encoded = pxe.option_bytes(choice, "10.0.0.2")
    assert encode_option(67, file.encode()) in encoded
    assert encode_option(66, b"10.0.0.2") in encoded


@pytest.mark.parametrize(("options", "file"), [
    ({93: arch(0), 60: b"PXEClient:Arch:00000"}, "undionly.kpxe"),
    ({93: arch(0), 77: b"iPXE"}, "http://10.0.0.2:5248/ipxe/boot.ipxe"),
    ({93: arch(7), 60: b"PXEClient:Arch:00007"}, "bootx64.efi"),
    ({93: arch(7), 77: b"iPXE"}, "http://10.0.0.2:5248/ipxe/boot.ipxe"),
])
def test_a_subnet_booting_ipxe_chainloads_it_for_bios_clients_only(options, file):
    """A BIOS PXE ROM gets iPXE (undionly.kpxe) over TFTP; that iPXE gets its script over HTTP.
    UEFI clients boot as on any subnet (Secure Boot needs the signed shim)."""
    assert pxe.choose(options, "10.0.0.2", 5248, "ipxe").file == file


def test_plain_client_gets_no_boot_file():
    assert pxe.choose({60: b"udhcp 1.35"}, "10.0.0.2", 5248) is None


@pytest.mark.parametrize(("arch_type", "firmware"), [
    (0, "bios"), (6, "uefi"), (7, "uefi"), (9, "uefi"), (11, "uefi"), (16, "uefi")])
def test_firmware_from_option_93(arch_type, firmware):
    assert pxe.firmware({93: arch(arch_type)}) == firmware


def test_firmware_unknown_without_option_93():
    assert pxe.firmware({60: b"PXEClient"}) == pxe.firmware({93: b"\x00"}) == ""


@pytest.mark.parametrize("arch_type", [2, 6, 10, 15, 19, 0xffff])
def test_an_architecture_without_a_loader_gets_no_boot_file(arch_type):
    options = {93: arch(arch_type), 60: b"PXEClient:Arch:%05d" % arch_type}
    assert pxe.unsupported_arch(options) == arch_type
    assert pxe.choose(options, "10.0.0.2", 5248) is None
