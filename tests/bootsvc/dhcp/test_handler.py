"""In-process protocol tests: DORA, NAK, other server, release, decline, inform, relay, config."""
from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.packet import ACK, DECLINE, DISCOVER, INFORM, NAK, OFFER, RELEASE, REQUEST
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config, subnet_config
from tests.bootsvc.dhcp.helpers import arch, ask, aton, ip, make_handler

MAC = "52:54:00:00:00:01"
SERVER = aton(SERVER_IP)


def dora(handler, mac=MAC, **options):
    offer, _ = ask(handler, mac, DISCOVER, **options)
    ack, dest = ask(handler, mac, REQUEST, o50=offer.yiaddr, o54=SERVER, **options)
    return offer, ack, dest


def test_full_exchange_options_times_and_broadcast_destination():
    handler = make_handler()
    offer, ack, dest = dora(handler)
    assert offer.message_type == OFFER and ack.message_type == ACK
    assert ip(offer) == ip(ack) == "10.0.0.100"
    assert dest == ("255.255.255.255", 68)
    o = ack.options
    assert (o[1], o[3], o[6], o[54], o[26]) == (
        aton("255.255.255.0"), aton("10.0.0.1"), aton("10.0.0.1"), SERVER, b"\x05\xdc")
    # Unknown MAC on a subnet allowing enlistment: the short enlistment lease, T1 = 1/2, T2 = 7/8.
    assert [int.from_bytes(o[c], "big") for c in (51, 58, 59)] == [120, 60, 105]
    assert handler.events == ["dhcp_discover", "dhcp_offer", "dhcp_ack"]
    assert handler.reports == ["active"]
    assert handler.counters["offers"] == handler.counters["acks"] == 1


def test_discover_reports_the_firmware_and_an_unknown_architecture_gets_no_loader():
    fields = []
    handler = make_handler()
    handler.emit = lambda mac, kind, text, extra=None: fields.append((kind, text, extra))
    offer, ack, _ = dora(handler, o93=arch(7), o60=b"PXEClient:Arch:00007")
    assert ack.file == b"bootx64.efi"
    assert fields[0] == ("dhcp_discover", "DHCPDISCOVER (uefi)", {"firmware": "uefi"})
    fields.clear()
    offer, ack, _ = dora(handler, "52:54:00:00:00:02", o93=arch(10), o60=b"PXEClient:Arch:00010")
    assert ack.message_type == ACK and ip(ack)  # an address still, no boot file
    assert ack.file.rstrip(b"\0") == b"" and 67 not in ack.options
    assert [kind for kind, _, _ in fields] == ["dhcp_discover", "boot_unsupported_arch",
                                                "dhcp_offer", "dhcp_ack"]
    assert "architecture 10" in fields[1][1]
    assert handler.counters["pxe_unsupported_arch"] == 1


def test_known_machine_gets_reservation_hostname_and_full_lease():
    handler = make_handler(rack_config(hosts=[
        {"mac": MAC, "ip": "10.0.0.20", "hostname": "node1", "system_id": "x"}]))
    offer, ack, _ = dora(handler, o93=arch(0))
    assert ip(ack) == "10.0.0.20" and ack.options[12] == b"node1"
    assert int.from_bytes(ack.options[51], "big") == 600
    assert ack.file == b"lpxelinux.0" and ack.siaddr == SERVER


def test_the_subnets_bios_boot_loader_comes_from_the_rack_config():
    handler = make_handler(rack_config([subnet_config(bios_boot_loader="ipxe")]))
    _, ack, _ = dora(handler, o93=arch(0), o60=b"PXEClient:Arch:00000")
    assert ack.file == b"undionly.kpxe" and ack.siaddr == SERVER
    _, ack, _ = dora(handler, "52:54:00:00:00:02", o93=arch(0), o77=b"iPXE")
    assert ack.file == b"http://10.0.0.2:5248/ipxe/boot.ipxe"


def test_renew_is_unicast_to_ciaddr_and_wrong_address_is_nakked():
    handler = make_handler()
    _, ack, _ = dora(handler)
    renew, dest = ask(handler, MAC, REQUEST, ciaddr=ip(ack))
    assert renew.message_type == ACK and dest == (ip(ack), 68) and renew.ciaddr == ack.yiaddr
    nak, dest = ask(handler, MAC, REQUEST, o50=aton("10.0.1.5"))
    assert nak.message_type == NAK and dest == ("255.255.255.255", 68)
    assert ask(handler, "52:54:00:00:00:02", REQUEST, o50=ack.yiaddr)[0].message_type == NAK
    assert handler.counters["naks"] == 2


def test_request_for_another_server_is_ignored_and_drops_our_offer():
    handler = make_handler()
    offer, _ = ask(handler, MAC, DISCOVER)
    assert ask(handler, MAC, REQUEST, o50=offer.yiaddr, o54=aton("10.0.0.3")) is None
    assert handler.counters["dropped_other_server"] == 1
    other = ask(handler, "52:54:00:00:00:02", DISCOVER, o50=offer.yiaddr)[0]
    assert ip(other) == ip(offer)  # the held address is free again


def test_release_and_decline():
    handler = make_handler()
    _, ack, _ = dora(handler)
    assert ask(handler, MAC, RELEASE, ciaddr=ip(ack), o54=SERVER) is None
    assert handler.reports == ["active", "released"]
    _, ack2, _ = dora(handler, "52:54:00:00:00:02")
    assert ask(handler, "52:54:00:00:00:02", DECLINE, o50=ack2.yiaddr, o54=SERVER) is None
    assert handler.counters["declines"] == 1
    assert ip(dora(handler, "52:54:00:00:00:02")[1]) != ip(ack2)


def test_inform_gets_options_without_address_or_lease_time():
    handler = make_handler()
    reply, dest = ask(handler, MAC, INFORM, ciaddr="10.0.0.50")
    assert reply.message_type == ACK and reply.yiaddr == bytes(4) and 51 not in reply.options
    assert dest == ("10.0.0.50", 68) and reply.options[3] == aton("10.0.0.1")


def test_relayed_request_answered_to_relay_with_option_82():
    relayed = subnet_config(cidr="10.0.1.0/24", gateway="10.0.1.1", dynamic_ranges=[
        {"start": "10.0.1.100", "end": "10.0.1.110"}], reserved_ranges=[])
    handler = make_handler(rack_config([subnet_config(), relayed]))
    offer, dest = ask(handler, MAC, DISCOVER, giaddr="10.0.1.1", o82=b"\x01\x03abc")
    assert dest == ("10.0.1.1", 67) and ip(offer).startswith("10.0.1.")
    assert offer.options[82] == b"\x01\x03abc" and offer.giaddr == aton("10.0.1.1")
    assert offer.options[54] == SERVER


def test_unknown_mac_without_enlistment_still_gets_its_loader_at_the_normal_lease_time():
    # Known machines need not have a reserved address: the region's boot decision, not DHCP,
    # tells an unknown MAC on a subnet without enlistment to boot locally.
    handler = make_handler(rack_config([subnet_config(allow_enlistment=False)]))
    offer, ack, _ = dora(handler, o93=arch(7))
    assert int.from_bytes(ack.options[51], "big") == 600
    assert ack.file == b"bootx64.efi" and ack.options[67] == b"bootx64.efi"


def test_update_config_keeps_leases_and_applies_reservation():
    handler = make_handler()
    _, ack, _ = dora(handler)
    new = rack_config(hosts=[{"mac": "52:54:00:00:00:09", "ip": "10.0.0.42"}])
    handler.update_config(dhcp_config.from_json(new, [SERVER_IP]))
    assert ip(ask(handler, "52:54:00:00:00:09", DISCOVER)[0]) == "10.0.0.42"
    assert ask(handler, MAC, REQUEST, ciaddr=ip(ack))[0].message_type == ACK


def test_no_subnet_and_garbage_are_counted():
    handler = make_handler(rack_config([subnet_config(cidr="10.9.0.0/24", gateway=None,
                                                      dynamic_ranges=[], reserved_ranges=[])]))
    assert ask(handler, MAC, DISCOVER) is None
    assert handler.handle(b"garbage") is None
    assert handler.counters["dropped_no_subnet"] == 1
    assert handler.counters["dropped_malformed"] == 1
