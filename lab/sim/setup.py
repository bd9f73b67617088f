"""What the simulated demo tells the region through the REST API (as an operator would).

- the network the simulated machines "boot" on: 127.0.0.0/8 (the rack's loopback address is in
  it, so the rack is connected to it; it allows enlistment), their leases in SIM_NETWORK;
- a deployable image to deploy: a 1 MiB raw disk image with nothing in it but a partition table
  signature (the simulated deploy runner writes nothing, the region needs an image to choose);
- each enlisted machine's BMC (fake, its fake id): enlistment tells the region a machine's MAC
  and inventory, not how to reach its BMC.
"""
import hashlib
import urllib.request

from lab.api import Api, ApiError

LOOPBACK = "127.0.0.0/8"
SIM_NETWORK = "127.0.99.0/24"  # the simulated machines' leased addresses
IMAGE_NAME = "simulated/demo"


def first(items: list[dict]) -> dict | None:
    return items[0] if items else None


def configure_network(api: Api) -> dict:
    """Fabric `simulated` with the loopback subnet (enlistment allowed); the subnet."""
    subnet = first(api.items(f"subnets/?cidr={LOOPBACK}"))
    if subnet is not None:
        return subnet
    fabric = first(api.items("fabrics/?name=simulated")) or api.post(
        "fabrics/", {"name": "simulated"})
    vlan = first(api.items(f"vlans/?fabric={fabric['id']}&vid=0"))
    return api.post("subnets/", {"cidr": LOOPBACK, "vlan": vlan["id"], "name": "simulated",
                                 "allow_enlistment": True})


def simulated_disk_image() -> bytes:
    """1 MiB of zeros with an MBR signature: what the region checks of a raw image."""
    image = bytearray(1 << 20)
    image[510:512] = b"\x55\xaa"
    return bytes(image)


def ensure_image(api: Api) -> dict:
    """The deployable `simulated/demo` image (created and uploaded once)."""
    resource = first([r for r in api.items("boot-resources/") if r["name"] == IMAGE_NAME])
    if resource is None:
        resource = api.post("boot-resources/", {
            "name": IMAGE_NAME, "os": "simulated", "series": "demo",
            "architecture": "amd64/generic", "kind": "deployable", "origin": "uploaded"})
    if resource["files"]:
        return resource
    body = simulated_disk_image()
    request = urllib.request.Request(
        f"{api.base}boot-resources/{resource['id']}/files/root-image/?sha256="
        f"{hashlib.sha256(body).hexdigest()}&image_format=raw", data=body, method="PUT",
        headers={"Authorization": f"Bearer {api.key}",
                 "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return resource


def machines_by_mac(api: Api, bmcs: dict[str, str]) -> dict[str, dict]:
    """{fake id: machine} of the simulated machines the region knows."""
    known = {}
    for fake_id, mac in bmcs.items():
        machine = first(api.items(f"machines/?mac_address={mac}"))
        if machine is not None:
            known[fake_id] = machine
    return known


def set_fake_bmcs(api: Api, bmcs: dict[str, str], done: set[str]) -> list[dict]:
    """Give each newly enlisted machine its fake BMC; the machines updated."""
    updated = []
    for fake_id, machine in machines_by_mac(api, bmcs).items():
        if fake_id in done:
            continue
        if machine.get("power_type") != "fake":
            try:
                machine = api.patch(f"machines/{machine['system_id']}/", {
                    "power_type": "fake", "power_parameters": {"fake_id": fake_id}})
            except ApiError as exc:  # e.g. the machine is busy: try again on the next look
                print(f"Could not set the BMC of {fake_id} yet: {exc}", flush=True)
                continue
        done.add(fake_id)
        updated.append(machine)
    return updated
