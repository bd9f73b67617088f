"""A private libvirtd for the lab: its own config, state and socket, running in the lab's bridge
namespace, so that the qemu (TCG) domains it starts open the lab's taps and nothing else.

libvirtd run as root always uses /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt
and /var/log/libvirt. This one runs in a mount namespace of its own where private directories
are bound over those paths, so it neither needs nor disturbs a system libvirtd (or its default
network); only its socket directory, outside those paths, is shared. Clients connect with
`qemu+unix:///system?socket=<dir>/sock/libvirt-sock` (a filesystem socket: any namespace of the
machine reaches it, e.g. a rack's).

Domains use the lab's taps as `<interface type='ethernet'>` with `managed='no'`: libvirt opens
the existing tap in its namespace (the bridge's) and hands it to qemu.
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lab.state import MARKER
from lab.vm import VM

SERCON_PORT = 0x3F8  # COM1
LIBVIRT_PATHS = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt",
                 "/var/log/libvirt")
# Root qemu without cgroups, namespaces, SELinux/AppArmor or virtlogd: a container may have
# none of them, and the lab's files belong to root already.
QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""
LIBVIRTD_CONF = """unix_sock_dir = "{sock_dir}"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:stderr"
"""
# Binds the private directories, then becomes libvirtd (argv: private root, libvirtd args).
LAUNCHER = """set -eu
root="$1"; shift
for path in {paths}; do
    mkdir -p "$path" "$root$path"
    mount --bind "$root$path" "$path"
done
exec libvirtd "$@"
"""


def unavailable_reason() -> str | None:
    """Why the lab cannot run libvirt domains here (packages missing), or None."""
    if not shutil.which("libvirtd"):
        return "libvirtd is missing (apt-get install -y libvirt-daemon-system)"
    if not shutil.which("unshare"):
        return "unshare is missing (apt-get install -y util-linux)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return ("the libvirt Python binding is missing (apt-get install -y libvirt-dev "
                "pkg-config; pip install libvirt-python)")
    return None


class Libvirtd:
    """A private libvirtd (in `netns` when given): start(), connect(), define(), stop()."""

    def __init__(self, directory: Path, netns: str | None = None, log: Path | None = None,
                 env: dict | None = None):
        self.dir = Path(directory)  # keep it short: the socket's path is limited to 107 bytes
        self.netns = netns
        self.log = Path(log) if log else self.dir / "libvirtd.log"
        self.env = env
        self.socket = self.dir / "sock" / "libvirt-sock"
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        """The power_address of this libvirtd for the virsh driver."""
        return f"qemu+unix:///system?socket={self.socket}"

    def start(self, timeout: float = 60) -> "Libvirtd":
        private = self.dir / "root"
        for path in LIBVIRT_PATHS:
            (private / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (private / "etc/libvirt/qemu.conf").write_text(QEMU_CONF)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        config = self.dir / "libvirtd.conf"
        config.write_text(LIBVIRTD_CONF.format(sock_dir=self.socket.parent))
        launcher = self.dir / "launch.sh"
        launcher.write_text(LAUNCHER.format(paths=" ".join(LIBVIRT_PATHS)))
        argv = ["unshare", "--mount", "--propagation", "private", "sh", str(launcher),
                str(private), "--config", str(config), "--pid-file", str(self.dir / "pid")]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env,
                                            start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        libvirt = _libvirt()
        deadline = time.monotonic() + timeout
        while True:
            try:
                libvirt.open(self.uri).close()
                return
            except libvirt.libvirtError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"libvirtd did not start:\n"
                                       f"{self.log.read_text(errors='replace')[-3000:]}") from None
                time.sleep(0.2)

    def connect(self):
        return _libvirt().open(self.uri)

    def define(self, xmls: list[str]) -> None:
        """Define (not start) persistent domains."""
        conn = self.connect()
        try:
            for xml in xmls:
                conn.defineXML(xml)
        finally:
            conn.close()

    def destroy_all(self) -> None:
        """Stop every running domain (e.g. before their disks are reset)."""
        if self.process is None or self.process.poll() is not None:
            return
        conn = self.connect()
        try:
            for domain in conn.listAllDomains():
                if domain.isActive():
                    domain.destroy()
        finally:
            conn.close()

    def stop(self) -> None:
        """Destroy the domains, then stop libvirtd (SIGKILL if it lingers)."""
        try:
            self.destroy_all()
        finally:
            if self.process is not None and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)


def _libvirt():
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no "libvirt: ..." on stderr
    return libvirt


def sercon_file(directory: Path) -> Path:
    """SeaBIOS's etc/sercon-port (0x3f8, little-endian): its and iPXE's screen on the serial
    console. qemu sets it for -nographic only, which libvirt never passes (-display none)."""
    path = Path(directory) / "sercon-port"
    path.write_bytes(SERCON_PORT.to_bytes(2, "little"))
    return path


def domain_xml(vm: VM, sercon: Path, emulator: str | None = None) -> str:
    """A SeaBIOS TCG domain with the VM's tap, MAC, disk and serial console file; boots from its
    disk (the virsh driver sets the network first for a netboot)."""
    qemu = emulator or shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{vm.name}</name>
  <memory unit='MiB'>{vm.memory}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <emulator>{qemu}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file={quoteattr(vm.disk)}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <mac address='{vm.mac}'/>
      <target dev='{vm.tap}' managed='no'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path={quoteattr(vm.console)} append='on'/>
      <target port='0'/>
    </serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-fw_cfg'/>
    <qemu:arg value='name=etc/sercon-port,file={sercon}'/>
  </qemu:commandline>
</domain>
"""


def lab_libvirtd(lab) -> Libvirtd:
    """The lab's libvirtd in its bridge namespace with one domain per lab VM (all off)."""
    env = {**lab.config.env, MARKER: str(lab.state.dir)}  # `lab down` finds it by this too
    daemon = Libvirtd(lab.state.runtime_dir / "libvirt", lab.bridge_ns, lab.log("libvirtd"),
                      env).start()
    sercon = sercon_file(daemon.dir)
    daemon.define([domain_xml(vm, sercon) for vm in lab.vms])
    return daemon
