"""Parsing of built-in script output: fixed samples, tab-separated fields, malformed lines."""
from nodes.scripts.output import parse_output, parse_records

BLOCK = (
    "name=vda\tsize=274877906944\tblock_size=512\tmodel=QEMU HARDDISK\tserial=\t"
    "id_path=/sys/devices/pci0000:00/virtio1\trotational=1\n"
    "name=nvme0n1\tsize=1000204886016\tblock_size=4096\tmodel=Samsung SSD 980 = fast\t"
    "serial=S64\tid_path=/dev/disk/by-id/nvme-Samsung_S64\trotational=0\n"
    "garbage line\n"
    "name=sdz\tsize=-5\n"
    "name=sdy\tblock_size=512\n"
)


def test_records_split_on_tabs_and_first_equals():
    records, warnings = parse_records("a=1\tb=x = y\n\n  \nnot a field\n=novalue\nc=\n")
    assert records == [(1, {"a": "1", "b": "x = y"}), (6, {"c": ""})]
    assert len(warnings) == 2 and warnings[0].startswith("line 4:")


def test_cpu_and_memory():
    cpu = parse_output("10-cpu", "cpu_count=8\ncpu_model=Intel(R) Xeon(R) CPU @ 2.40GHz\n"
                                 "cpu_speed=2400\narch=amd64\nextra=ignored\n")
    assert cpu.data == {"cpu_count": 8, "cpu_model": "Intel(R) Xeon(R) CPU @ 2.40GHz",
                        "cpu_speed": 2400, "arch": "amd64"}
    assert cpu.warnings == []
    assert parse_output("10-memory", "memory_mib=16384\n").data == {"memory_mib": 16384}


def test_scalar_malformed_values_warn_and_keep_the_rest():
    cpu = parse_output("10-cpu", "cpu_count=lots\ncpu_speed=2400\nnonsense\n")
    assert cpu.data == {"cpu_speed": 2400}
    assert any("cpu_count" in w for w in cpu.warnings)
    assert "missing cpu_count" in cpu.warnings
    assert len(parse_output("10-memory", "").warnings) == 1


def test_block_devices():
    parsed = parse_output("20-block-devices", BLOCK)
    assert [d["name"] for d in parsed.data] == ["vda", "nvme0n1"]
    nvme = parsed.data[1]
    assert nvme["size"] == 1000204886016 and nvme["block_size"] == 4096
    assert nvme["model"] == "Samsung SSD 980 = fast" and nvme["rotational"] == "0"
    assert len(parsed.warnings) == 3  # garbage, negative size, missing size


def test_network_normalises_macs_and_rejects_bad_ones():
    parsed = parse_output("20-network", "name=eno1\tmac=52:54:00:AA:BB:01\tdriver=e1000e\t"
                                        "speed=1000\tlink=up\n"
                                        "name=eno2\tmac=zz\tspeed=0\tlink=down\n"
                                        "name=eno3\tmac=52:54:00:aa:bb:03\tspeed=fast\n")
    assert parsed.data == [{"name": "eno1", "mac": "52:54:00:aa:bb:01", "driver": "e1000e",
                            "speed": 1000, "link": "up"}]
    assert len(parsed.warnings) == 2


def test_dmi_bmc_and_unknown_scripts():
    dmi = parse_output("30-dmi", "vendor=QEMU\nproduct=Standard PC (Q35 + ICH9, 2009)\n"
                                 "serial=\nbios_vendor=SeaBIOS\n")
    assert dmi.data["product"] == "Standard PC (Q35 + ICH9, 2009)" and dmi.data["serial"] == ""
    assert parse_output("30-bmc", "bmc=present\tsource=/dev/ipmi0\n").data == {
        "bmc": "present", "source": "/dev/ipmi0"}
    assert parse_output("30-bmc", "bmc=maybe\n").warnings
    assert parse_output("99-user", "anything").data == {}
