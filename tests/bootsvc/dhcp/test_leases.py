"""Unit tests: allocation (ranges, reservations, exclusions), expiry, quarantine, journal replay."""
from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.journal import ip_int, ip_text
from bootsvc.dhcp.leases import LeaseStore
from bootsvc.dhcp.packet import parse_mac
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config, subnet_config
from tests.bootsvc.dhcp.helpers import Clock

MAC = [parse_mac(f"52:54:00:00:00:{i:02x}") for i in range(256)]


def store(config: dict, state_dir=None, clock=None):
    cfg = dhcp_config.from_json(config, [SERVER_IP])
    leases = LeaseStore(state_dir, clock=clock or Clock())
    leases.set_config(cfg)
    return leases, cfg.subnets[0]



def test_allocation_skips_gateway_server_reserved_ranges_and_region_leases():
    config = rack_config(
        [subnet_config(dynamic_ranges=[{"start": "10.0.0.0", "end": "10.0.0.14"}])],
        hosts=[{"mac": "52:54:00:99:99:99", "ip": "10.0.0.10", "hostname": "n"}],
        leases=[{"mac": "52:54:00:aa:bb:cc", "ip": "10.0.0.11", "expires": 2_000_000}])
    leases, subnet = store(config)
    got = []
    for mac in MAC[:10]:
        ip = leases.choose(subnet, mac, None)
        if ip is None:
            break
        leases.commit(mac, ip, 600)
        got.append(ip_text(ip))
    # .0 network, .1 gateway, .2-.9 reserved (server .2), .10 host, .11 region lease.
    assert got == ["10.0.0.12", "10.0.0.13", "10.0.0.14"]


def test_reservation_wins_and_is_never_given_to_another_mac():
    config = rack_config(hosts=[{"mac": "52:54:00:00:00:05", "ip": "10.0.0.150"}])
    leases, subnet = store(config)
    assert leases.choose(subnet, MAC[5], None) == ip_int("10.0.0.150")
    assert not leases.available(subnet, MAC[6], ip_int("10.0.0.150"))
    assert leases.choose(subnet, MAC[6], ip_int("10.0.0.150")) != ip_int("10.0.0.150")
    assert not leases.available(subnet, MAC[5], ip_int("10.0.0.120"))


def test_a_reservation_outranks_the_lease_of_the_address_s_last_machine():
    """The region released a machine's AUTO address and gave it to the next deploy: the new
    machine gets it at once, though the old one's lease has not run out."""
    leases, subnet = store(rack_config(hosts=[{"mac": "52:54:00:00:00:01", "ip": "10.0.0.150"}]))
    leases.commit(MAC[1], leases.choose(subnet, MAC[1], None), 600)
    reassigned = rack_config(hosts=[{"mac": "52:54:00:00:00:04", "ip": "10.0.0.150"}])
    leases.set_config(dhcp_config.from_json(reassigned, [SERVER_IP]))
    assert leases.choose(subnet, MAC[4], None) == ip_int("10.0.0.150")
    leases.commit(MAC[4], ip_int("10.0.0.150"), 600)
    assert leases.by_ip[ip_int("10.0.0.150")].mac == MAC[4] and MAC[1] not in leases.by_mac


def test_same_mac_gets_same_address_and_requested_address_is_honoured():
    leases, subnet = store(rack_config())
    first = leases.choose(subnet, MAC[1], None)
    leases.commit(MAC[1], first, 600)
    assert leases.choose(subnet, MAC[1], None) == first
    assert leases.choose(subnet, MAC[2], ip_int("10.0.0.150")) == ip_int("10.0.0.150")
    assert leases.choose(subnet, MAC[3], first) != first


def test_expiry_frees_address_and_pool_exhaustion():
    clock = Clock()
    leases, subnet = store(rack_config([subnet_config(
        dynamic_ranges=[{"start": "10.0.0.100", "end": "10.0.0.101"}])]), clock=clock)
    for mac in MAC[:2]:
        leases.commit(mac, leases.choose(subnet, mac, None), 600)
    assert leases.choose(subnet, MAC[3], None) is None
    clock.now += 601
    assert [x.mac for x in leases.expire()] == MAC[:2]
    assert leases.choose(subnet, MAC[3], None) is not None


def test_offer_hold_expires_silently():
    clock = Clock()
    leases, subnet = store(rack_config([subnet_config(
        dynamic_ranges=[{"start": "10.0.0.100", "end": "10.0.0.100"}])]), clock=clock)
    leases.offer(MAC[1], leases.choose(subnet, MAC[1], None), 30)
    assert leases.choose(subnet, MAC[2], None) is None
    clock.now += 31
    assert leases.expire() == []
    assert leases.choose(subnet, MAC[2], None) == ip_int("10.0.0.100")


def test_declined_address_is_quarantined_then_freed():
    clock = Clock()
    leases, subnet = store(rack_config([subnet_config(
        dynamic_ranges=[{"start": "10.0.0.100", "end": "10.0.0.101"}])]), clock=clock)
    ip = leases.choose(subnet, MAC[1], None)
    leases.commit(MAC[1], ip, 600)
    leases.decline(MAC[1], ip, 600)
    assert not leases.available(subnet, MAC[2], ip)
    assert leases.choose(subnet, MAC[1], None) != ip
    clock.now += 601
    leases.expire()
    assert leases.available(subnet, MAC[2], ip)


def test_journal_replay_restores_leases_releases_and_quarantine(tmp_path):
    clock = Clock()
    leases, subnet = store(rack_config(), tmp_path, clock)
    a = leases.choose(subnet, MAC[1], None)
    leases.commit(MAC[1], a, 600, "one")
    b = leases.choose(subnet, MAC[2], None)
    leases.commit(MAC[2], b, 600)
    leases.release(MAC[2], b)
    c = leases.choose(subnet, MAC[3], None)
    leases.commit(MAC[3], c, 10)
    leases.decline(MAC[4], ip_int("10.0.0.190"), 600)
    leases.journal.write()  # as the server does after each batch, before any reply
    with open(leases.journal.path, "ab") as f:
        f.write(b"A 1 52:54:00:00")  # torn last line of a crash
    clock.now += 20  # MAC[3]'s lease expired meanwhile
    again, subnet = store(rack_config(), tmp_path, clock)
    assert {(m, x.ip, x.hostname) for m, x in again.by_mac.items()} == {(MAC[1], a, "one")}
    assert again.quarantine == {ip_int("10.0.0.190"): clock.now - 20 + 600}
    assert not again.available(subnet, MAC[5], a)
    assert again.journal.records == 2  # compacted on start


def test_journal_compaction_keeps_state(tmp_path):
    leases, subnet = store(rack_config(), tmp_path)
    for _ in range(50):
        leases.commit(MAC[1], ip_int("10.0.0.120"), 600)
    assert leases.journal.records == 50
    leases.compact()
    assert leases.journal.records == 1
    again, _ = store(rack_config(), tmp_path)
    assert again.by_mac[MAC[1]].ip == ip_int("10.0.0.120")


def test_replaying_the_last_lines_twice_gives_the_same_leases(tmp_path):
    """A compaction whose directory fsync fails puts back lines the new journal already has."""
    clock = Clock()
    leases, subnet = store(rack_config(), tmp_path / "a", clock)
    a = leases.choose(subnet, MAC[1], None)
    leases.commit(MAC[1], a, 600)
    leases.release(MAC[1], a)
    leases.commit(MAC[2], a, 600)  # the address moves to another machine
    leases.commit(MAC[1], leases.choose(subnet, MAC[1], None), 600)
    leases.decline(MAC[3], ip_int("10.0.0.190"), 600)
    leases.commit(MAC[2], ip_int("10.0.0.150"), 600)
    leases.journal.sync()
    lines = (tmp_path / "a" / "leases.journal").read_bytes().splitlines(keepends=True)
    (tmp_path / "b").mkdir()
    for suffix in range(1, len(lines) + 1):
        (tmp_path / "b" / "leases.journal").write_bytes(b"".join(lines + lines[-suffix:]))
        again, _ = store(rack_config(), tmp_path / "b", clock)
        assert {m: x.ip for m, x in again.by_mac.items()} == {
            m: x.ip for m, x in leases.by_mac.items()}, suffix
        assert again.quarantine == leases.quarantine
