"""The real deploy runner (nodes/metadata/deploy.sh): rendered by the region, run by this host's
busybox against a live region and a stand-in for the rack's image server; the "disk" is a file."""
import gzip
import hashlib
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from nodes.bootimages import formats
from nodes.choices import NodeStatus, ResultType, ScriptStatus
from nodes.metadata.render import render_deploy_runner
from nodes.models import BootResourceFile, Event, ScriptResult
from nodes.services.actions import machine_deploy
from nodes.services.tokens import token_active
from tests.factories import MachineFactory, UserFactory
from tests.nodes.bootresource_factories import DISK, BootResourceFactory
from tests.nodes.metadata.test_runner import (  # noqa: F401 - fixtures
    BUSYBOX,
    busybox_path,
    fetch_job,
    region,
)
from tests.processes import skip_or_fail

IMAGE_DIR = formats.resource_dir("deployable", "amd64/generic", "1")
MIB = 1 << 20


class ImageServer:
    """The rack's HTTP image cache, played by a thread: answers[path] is a list of bodies served
    in turn (the last one again after that)."""

    def __init__(self):
        self.answers: dict[str, list[bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                bodies = server.answers.get(self.path.lstrip("/"))
                if not bodies:
                    self.send_error(404)
                    return
                body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def images():
    server = ImageServer()
    yield server
    server.close()


@pytest.fixture
def runner_path(busybox_path, tmp_path):  # noqa: F811 - the fixture imported above
    """Busybox applets, with write_metal_cfg.sh and reboot recorded instead of run."""
    bindir = tmp_path / "bin"
    for name, body in (("write_metal_cfg.sh", 'echo "$@" > "$METAL_RUNNER_DIR/cfg-args"\n'),
                       ("reboot", 'echo called > "$METAL_RUNNER_DIR/reboot"\n')):
        (bindir / name).unlink(missing_ok=True)
        (bindir / name).write_text(f"#!{BUSYBOX} sh\n{body}")
        (bindir / name).chmod(0o755)
    return str(bindir)


def deploying(file_format: str, content: bytes):
    """A Deploying machine whose job writes `content` (registered as metal-test/1)."""
    resource = BootResourceFactory(os="metal-test", series="1", kind="deployable")
    BootResourceFile.objects.create(
        resource=resource,
        filetype="root-tgz" if file_format in formats.ROOT_TGZ_FORMATS else "root-image",
        format=file_format,
        path=f"{IMAGE_DIR}/{formats.filename(file_format)}", size=len(content),
        sha256=hashlib.sha256(content).hexdigest())
    machine = MachineFactory(status=NodeStatus.READY)
    machine_deploy(machine.system_id, UserFactory(), user_data="#!/bin/sh\necho hi\n")
    return machine, token_active(machine).key


def run_deploy(region, machine, key, tmp_path, path, images, disk, **env):  # noqa: F811
    script = tmp_path / "deploy"
    script.write_bytes(fetch_job(region, machine, key))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    environment = {"PATH": path, "METAL_REGION": region, "METAL_SYSTEM_ID": machine.system_id,
                   "METAL_TOKEN": key, "METAL_RUNNER_DIR": str(work), "METAL_IMAGES": images.url,
                   "METAL_DEPLOY_DISK": str(disk), "METAL_RUNNER_NO_POWEROFF": "1", **env}
    return subprocess.run([BUSYBOX, "sh", str(script)], env=environment, capture_output=True,
                          text=True, timeout=120, check=False)


def blank_disk(tmp_path, size=4 * MIB):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as handle:
        handle.truncate(size)
    return disk


def write_result(machine) -> ScriptResult:
    return ScriptResult.objects.get(script_set__machine=machine,
                                    script_set__result_type=ResultType.DEPLOYMENT)


@pytest.mark.django_db(transaction=True)
def test_gz_image_is_written_verified_and_the_machine_reboots_into_it(
        region, runner_path, images, tmp_path):  # noqa: F811
    image = gzip.compress(DISK, mtime=0)
    machine, key = deploying("gz", image)
    images.answers[f"{IMAGE_DIR}/root.img.gz"] = [image]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert disk.read_bytes()[:len(DISK)] == DISK and disk.stat().st_size == 4 * MIB
    assert "metal: pass 1: sha256 ok" in done.stdout
    assert f"metal: pass 2: 2 MiB written to {disk}, sha256 ok" in done.stdout
    assert "metal: deployment over: would reboot" in done.stdout
    assert key not in done.stdout + done.stderr
    assert images.requests == [f"/{IMAGE_DIR}/root.img.gz"] * 2
    cfg_args = (tmp_path / "work/cfg-args").read_text().split()
    assert cfg_args == [str(disk), region, machine.system_id, key]
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)
    assert token_active(machine) is not None  # the deployed OS reports with it
    result = write_result(machine)
    assert result.status == ScriptStatus.PASSED and b"image written" in bytes(result.output)
    assert Event.objects.filter(machine=machine, type="deploy_image_written").exists()


def corrupted(data: bytes) -> bytes:
    corrupt = bytearray(data)
    corrupt[600:608] = b"XXXXXXXX"
    return bytes(corrupt)


@pytest.mark.django_db(transaction=True)
def test_corrupt_image_on_the_rack_fails_the_deployment_without_writing(
        region, runner_path, images, tmp_path, settings):  # noqa: F811
    settings.DEPLOY_RETRY_WAIT = 0
    machine, key = deploying("raw", DISK)
    images.answers[f"{IMAGE_DIR}/root.img"] = [corrupted(DISK)]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert disk.read_bytes() == b"\0" * 4 * MIB  # never touched
    assert len(images.requests) == 5  # pass 1, attempted RETRIES times; no pass 2
    assert "metal: pass 1, attempt 5 of 5: sha256 checksum mismatch" in done.stdout
    assert "metal: deployment over: would poweroff" in done.stdout
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert machine.error_description.startswith(
        f"deployment failed: sha256 checksum mismatch for {IMAGE_DIR}/root.img on the rack")
    assert "nothing was written" in machine.error_description
    assert token_active(machine) is None
    result = write_result(machine)
    assert result.status == ScriptStatus.FAILED and b"checksum mismatch" in bytes(result.output)
    failed = Event.objects.get(machine=machine, type="job_finished")
    assert "pass 1: downloading" in failed.description  # the runner's output, in the Event


@pytest.mark.django_db(transaction=True)
def test_pass_1_tries_again_until_the_rack_has_repaired_its_copy(
        region, runner_path, images, tmp_path, settings):  # noqa: F811
    settings.DEPLOY_RETRY_WAIT = 0
    machine, key = deploying("raw", DISK)
    images.answers[f"{IMAGE_DIR}/root.img"] = [corrupted(DISK), corrupted(DISK), DISK]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metal: pass 1, attempt 2 of 5: sha256 checksum mismatch" in done.stdout
    assert "metal: pass 1: sha256 ok" in done.stdout
    assert len(images.requests) == 4  # 3 attempts of pass 1, then pass 2
    assert disk.read_bytes()[:len(DISK)] == DISK
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)


@pytest.mark.django_db(transaction=True)
def test_image_changing_between_the_passes_is_wiped(region, runner_path, images, tmp_path):  # noqa: F811
    machine, key = deploying("raw", DISK)
    other = b"\0" * 446 + b"\x80" + b"\0" * 63 + b"\x55\xaa" + b"other disk " * 200_000
    images.answers[f"{IMAGE_DIR}/root.img"] = [DISK, other]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metal: wiping the first 3 MiB" in done.stdout
    assert disk.read_bytes() == b"\0" * 4 * MIB
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert "checksum mismatch while writing" in machine.error_description
    assert "is wiped" in machine.error_description


@pytest.mark.django_db(transaction=True)
def test_zst_image_without_zstd_is_refused_cleanly(region, runner_path, images, tmp_path):  # noqa: F811
    machine, key = deploying("gz", b"placeholder")
    script_set = write_result(machine).script_set  # as if a zst image had been chosen
    script_set.options["image"].update(format="zst", path=f"{IMAGE_DIR}/root.img.zst")
    script_set.save()
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert images.requests == [] and disk.read_bytes() == b"\0" * 4 * MIB
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert "cannot write a zst image" in machine.error_description


@pytest.mark.django_db(transaction=True)
def test_zst_image_is_written_through_zstd(region, runner_path, images, tmp_path):  # noqa: F811
    if not shutil.which("zstd"):
        skip_or_fail("zstd is not installed (make sysdeps)")
    (tmp_path / "bin/zstd").symlink_to(shutil.which("zstd"))
    image = subprocess.run(["zstd", "-q", "-c"], input=DISK, capture_output=True,
                           check=True).stdout
    machine, key = deploying("zst", image)
    images.answers[f"{IMAGE_DIR}/root.img.zst"] = [image]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert disk.read_bytes()[:len(DISK)] == DISK
    assert f"metal: pass 2: 2 MiB written to {disk}, sha256 ok" in done.stdout
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)


def fake_write_root_tgz(tmp_path, body: str) -> None:
    """write_root_tgz.sh played by a script (the real one needs a block device)."""
    script = tmp_path / "bin/write_root_tgz.sh"
    script.write_text(f"#!{BUSYBOX} sh\necho \"$@\" > \"$METAL_RUNNER_DIR/tgz-args\"\n{body}")
    script.chmod(0o755)


TARBALL = gzip.compress(b"root tarball bytes " * 100_000, mtime=0)


@pytest.mark.django_db(transaction=True)
def test_root_tarball_is_streamed_to_write_root_tgz(region, runner_path, images, tmp_path):  # noqa: F811
    fake_write_root_tgz(tmp_path, 'cat > "$METAL_RUNNER_DIR/tgz-stream"\n')
    machine, key = deploying("tgz", TARBALL)
    images.answers[f"{IMAGE_DIR}/root.tar.gz"] = [TARBALL]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "work/tgz-stream").read_bytes() == TARBALL
    assert (tmp_path / "work/tgz-args").read_text().split() == [str(disk)]
    assert f"metal: pass 2: root tarball unpacked on {disk}, sha256 ok" in done.stdout
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)


def fake_install_root(tmp_path) -> None:
    """install_root.sh played by a script: it keeps its arguments, plan, stream and config."""
    script = tmp_path / "bin/install_root.sh"
    script.write_text(f"#!{BUSYBOX} sh\n" + 'echo "$@" > "$METAL_RUNNER_DIR/root-args"\n'
                      'cp "$2" "$METAL_RUNNER_DIR/root-plan"\n'
                      'cp "$METAL_CLOUD_CFG" "$METAL_RUNNER_DIR/root-cloud.cfg"\n'
                      'cat > "$METAL_RUNNER_DIR/root-stream"\n')
    script.chmod(0o755)


@pytest.mark.django_db(transaction=True)
def test_a_real_os_is_installed_with_its_storage_plan_and_cloud_init_configuration(
        region, runner_path, images, tmp_path):  # noqa: F811
    """tzst: install_root.sh gets the stream, the region's plan for the machine's layout and
    the deployed OS's cloud-init configuration; no metal.cfg (cloud-init reports instead)."""
    fake_install_root(tmp_path)
    tarball = b"zstd root tarball " * 50_000
    machine, key = deploying("tzst", tarball)
    images.answers[f"{IMAGE_DIR}/root.tar.zst"] = [tarball]
    disk = blank_disk(tmp_path)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    work = tmp_path / "work"
    assert work.joinpath("root-stream").read_bytes() == tarball
    assert work.joinpath("root-args").read_text().split() == [str(disk), str(work / "deploy/plan")]
    plan = work.joinpath("root-plan").read_text()
    assert "LAYOUT='flat'" in plan and "TABLE='label: gpt" in plan, plan
    config = yaml.safe_load(work.joinpath("root-cloud.cfg").read_text())
    assert config["datasource_list"] == ["MAAS"]
    assert config["reporting"]["maas"]["endpoint"].endswith(f"/status/{machine.system_id}")
    assert not work.joinpath("cfg-args").exists()  # write_metal_cfg.sh: the test OS's only
    assert f"metal: pass 2: root tarball installed on {disk}, sha256 ok" in done.stdout
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)


@pytest.mark.django_db(transaction=True)
def test_a_failed_root_tarball_write_is_wiped_and_fails_the_deployment(
        region, runner_path, images, tmp_path):  # noqa: F811
    fake_write_root_tgz(tmp_path, 'printf "x%.0s" $(seq 4096) | dd of="$1" conv=notrunc '
                                  '2>/dev/null\necho "metal: write_root_tgz: mke2fs failed" >&2\n'
                                  'cat >/dev/null\nexit 1\n')
    machine, key = deploying("tgz", TARBALL)
    images.answers[f"{IMAGE_DIR}/root.tar.gz"] = [TARBALL]
    disk = blank_disk(tmp_path, 80 * MIB)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, disk)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metal: wiping the first 64 MiB" in done.stdout
    assert disk.read_bytes()[:MIB] == b"\0" * MIB
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert "(metal: write_root_tgz: mke2fs failed); what was written is wiped" in \
        machine.error_description


@pytest.mark.django_db(transaction=True)
def test_missing_image_server_is_a_clear_failure(region, runner_path, images, tmp_path):  # noqa: F811
    machine, key = deploying("raw", DISK)
    done = run_deploy(region, machine, key, tmp_path, runner_path, images, blank_disk(tmp_path),
                      METAL_IMAGES="")
    assert done.returncode == 0, done.stdout + done.stderr
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert "metal.images= is not on the kernel command line" in machine.error_description


def test_busybox_has_what_the_runner_uses():
    if not shutil.which("busybox"):
        pytest.skip("busybox is missing")
    applets = subprocess.run(["busybox", "--list"], capture_output=True, text=True).stdout.split()
    for applet in ("wget", "sha256sum", "mkfifo", "tee", "gunzip", "dd", "od", "reboot"):
        assert applet in applets, applet


def test_rendered_values_cannot_break_out_of_their_quotes():
    spec = {"system_id": "abc", "heartbeat_interval": 30, "disk": '/dev/vda"; reboot -f; "',
            "scripts": [{"id": 7}],
            "image": {"resource": "a/b", "path": "images/$(reboot)/root.img`x`", "format": "gz",
                      "sha256": "f" * 64, "size": 10}}
    text = render_deploy_runner(spec, "http://region:5240/")
    assert 'DISK="${METAL_DEPLOY_DISK:-/dev/vdareboot-f}"' in text
    assert 'IMAGE_PATH="images/reboot/root.imgx"' in text
    assert "RESULT=7\n" in text and "SIZE=10\n" in text
    done = subprocess.run([BUSYBOX, "sh", "-n"], input=text, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr
