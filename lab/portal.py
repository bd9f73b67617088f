"""The portal: TCP connections cross between a lab namespace and the root one over unix sockets.

Unix socket paths live in the filesystem, which namespaces share, so no network link is needed.
Inside the lab: `python -m lab.portal tcp:10.99.0.1:5240=unix:/run/x.sock+proxy`; in the root
namespace: `python -m lab.portal unix:/run/x.sock=tcp:127.0.0.1:5240`. `+proxy` sends a PROXY
protocol v1 line first, so the region (gunicorn --proxy-protocol) sees the client's address.
"""
import asyncio
import os
import signal
import sys

CHUNK = 1 << 16


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close (the other direction may still be talking)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def connect(target: str):
    kind, _, where = target.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(where)
    host, _, port = where.rpartition(":")
    return await asyncio.open_connection(host, int(port))


def proxy_line(writer: asyncio.StreamWriter) -> bytes:
    """PROXY protocol v1: the client's and our address as the TCP listener saw them."""
    client, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
    return f"PROXY TCP4 {client[0]} {local[0]} {client[1]} {local[1]}\r\n".encode()


def handler(target: str, proxy: bool):
    async def handle(reader, writer) -> None:
        try:
            up_reader, up_writer = await connect(target)
        except OSError:
            writer.close()  # nothing listens there (yet): the client sees a closed connection
            return
        if proxy:
            up_writer.write(proxy_line(writer))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()
    return handle


async def listen(spec: str) -> asyncio.AbstractServer:
    """Serve one `LISTEN=TARGET[+proxy]` forward."""
    source, _, target = spec.partition("=")
    target, proxy = target.removesuffix("+proxy"), target.endswith("+proxy")
    kind, _, where = source.partition(":")
    handle = handler(target, proxy)
    if kind == "unix":
        if os.path.exists(where):
            os.unlink(where)  # left by a killed portal
        return await asyncio.start_unix_server(handle, where)
    host, _, port = where.rpartition(":")
    return await asyncio.start_server(handle, host, int(port), reuse_address=True)


async def main(specs: list[str]) -> None:
    servers = [await listen(spec) for spec in specs]
    print("portal ready: " + " ".join(specs), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
