"""TFTP and HTTP boot file benchmark: bootsvc against dnsmasq (TFTP) and nginx (HTTP).

Run as root (dnsmasq's TFTP only listens on port 69, so it runs in a private network namespace
with nothing but loopback): `.venv/bin/python bench/boot_files_bench.py`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bootsvc.http import BootHttpServer  # noqa: E402
from bootsvc.tftp import BootTftpServer  # noqa: E402

PXELINUX = Path("/usr/lib/PXELINUX/lpxelinux.0")
NETNS = "bootbench"


def decide(mac):
    return {"mac": mac, "action": "local"}


def concurrent_curl(urls: list[str], prefix: list[str], extra: list[str]) -> tuple[float, int]:
    """Run one curl per URL at once; (wall seconds, failures)."""
    def one(url):
        cmd = [*prefix, "curl", "-sSf", "-o", "/dev/null", "--max-time", "120", *extra, url]
        return subprocess.run(cmd, capture_output=True).returncode

    start = time.perf_counter()
    with ThreadPoolExecutor(len(urls)) as pool:
        codes = list(pool.map(one, urls))
    return time.perf_counter() - start, sum(1 for c in codes if c)


def runs(fn, repeat: int) -> tuple[float, int]:
    results = [fn() for _ in range(repeat)]
    return statistics.median(r[0] for r in results), sum(r[1] for r in results)


def bench_tftp(root: Path, clients: int, repeat: int) -> dict:
    srv = BootTftpServer(str(root), decide)
    port = srv.start("127.0.0.1", 0)
    urls = [f"tftp://127.0.0.1:{port}/lpxelinux.0"] * clients
    ours = runs(lambda: concurrent_curl(urls, [], []), repeat)
    ours_big = runs(lambda: concurrent_curl(urls, [], ["--tftp-blksize", "1468"]), repeat)
    srv.stop()
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    proc = None
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        proc = subprocess.Popen([
            "ip", "netns", "exec", NETNS, "dnsmasq", "--no-daemon", "--port=0", "--enable-tftp",
            f"--tftp-root={root}", "--listen-address=127.0.0.1", "--bind-interfaces",
            "--user=root", "--pid-file=", "--log-facility=/dev/null", "--conf-file=/dev/null",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        prefix = ["ip", "netns", "exec", NETNS]
        urls = ["tftp://127.0.0.1/lpxelinux.0"] * clients
        nulls = ["file:///dev/null"] * clients
        exec_base = runs(lambda: concurrent_curl(nulls, prefix, []), repeat)
        theirs = runs(lambda: concurrent_curl(urls, prefix, []), repeat)
        theirs_big = runs(lambda: concurrent_curl(urls, prefix, ["--tftp-blksize", "1468"]), repeat)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)
        subprocess.run(["ip", "netns", "del", NETNS], check=False)
    # Client start-up cost alone (curl of file:///dev/null), with and without `ip netns exec`.
    plain_base = runs(lambda: concurrent_curl(["file:///dev/null"] * clients, [], []), repeat)
    return {"ours": ours, "ours_1468": ours_big, "curl_only": plain_base, "dnsmasq": theirs,
            "dnsmasq_1468": theirs_big, "curl_only_netns": exec_base}


def nginx_conf(workdir: Path, root: Path, port: int) -> Path:
    conf = workdir / "nginx.conf"
    conf.write_text(f"""daemon off;
user root;
worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    return conf


def bench_http(root: Path, workdir: Path, clients: int, repeat: int, port: int) -> dict:
    srv = BootHttpServer(str(root), decide, host="127.0.0.1", port=0)
    our_port = srv.start()
    urls = [f"http://127.0.0.1:{our_port}/images/big.bin"] * clients
    ours = runs(lambda: concurrent_curl(urls, [], []), repeat)
    srv.stop()
    proc = subprocess.Popen(["nginx", "-c", str(nginx_conf(workdir, root, port)),
                             "-p", str(workdir)])
    try:
        time.sleep(0.5)
        urls = [f"http://127.0.0.1:{port}/images/big.bin"] * clients
        theirs = runs(lambda: concurrent_curl(urls, [], []), repeat)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"ours": ours, "nginx": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tftp-clients", type=int, default=50)
    parser.add_argument("--http-clients", type=int, default=20)
    parser.add_argument("--http-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nginx-port", type=int, default=18248)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bootbench-"))
    root = workdir / "root"
    (root / "images").mkdir(parents=True)
    shutil.copy(PXELINUX, root / "lpxelinux.0")
    with open(root / "images" / "big.bin", "wb") as f:
        f.write(os.urandom(args.http_mb * 1024 * 1024))
    try:
        tftp = bench_tftp(root, args.tftp_clients, args.repeat)
        http = bench_http(root, workdir, args.http_clients, args.repeat, args.nginx_port)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    size = PXELINUX.stat().st_size
    print(f"TFTP: {args.tftp_clients} concurrent curl fetches of lpxelinux.0 ({size} bytes), "
          f"median of {args.repeat}")
    for name, (wall, fails) in tftp.items():
        print(f"  {name:14s} wall {wall:.3f} s  failures {fails}")
    total_mb = args.http_clients * args.http_mb
    print(f"HTTP: {args.http_clients} concurrent curl fetches of {args.http_mb} MiB, "
          f"median of {args.repeat}")
    for name, (wall, fails) in http.items():
        print(f"  {name:14s} wall {wall:.3f} s  {total_mb / wall:.0f} MiB/s  failures {fails}")


if __name__ == "__main__":
    main()
