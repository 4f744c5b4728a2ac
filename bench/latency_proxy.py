"""The latency proxy in a process of its own.

Run in the benchmark's own process, the proxy would take the GIL from the code being timed; a real
network costs the client no CPU, so the proxy gets its own interpreter, and it forwards on one event
loop (uvloop's where installed) rather than two threads per connection: with 128 connections the
threads took 0.35 s of CPU in a 1.1 s run of detailed statistics, on the same two cores as the tools
being timed. It prints its port, then forwards until its stdin closes (which also happens when the
parent dies).

    python -m bench.latency_proxy <target port> <latency seconds>

Each request is held for the latency before it goes on: the first bytes a client sends after the
server's last answer start a request, as ``dgtui.testing.TcpProxy`` counts them (TLS passes through
untouched, each handshake flight held as a request is).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading

LOOPBACK = "127.0.0.1"
CHUNK = 256 * 1024


class _Link:
    """One client connection and its server connection."""

    def __init__(self) -> None:
        self.awaiting_request = True


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link,
                latency: float | None) -> None:
    """One direction of a link. Requests (``latency`` given): the first bytes after an answer wait for it.
    Answers (``latency`` None): their bytes mark the link as waiting for the next request."""
    try:
        while data := await reader.read(CHUNK):
            if latency is None:
                link.awaiting_request = True
            elif link.awaiting_request:
                link.awaiting_request = False
                await asyncio.sleep(latency)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Nagle plus delayed ACKs would add their own ~40 ms to small requests.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(target_port: int, latency: float, ready: "asyncio.Future[int]", stop: asyncio.Event) -> None:
    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(LOOPBACK, target_port)
        except OSError:
            client_writer.close()
            return
        _no_delay(client_writer)
        _no_delay(server_writer)
        link = _Link()
        await asyncio.gather(_pump(client_reader, server_writer, link, latency),
                             _pump(server_reader, client_writer, link, None))

    server = await asyncio.start_server(forward, LOOPBACK, 0, backlog=1024)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await stop.wait()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> int:
    target_port, latency = int(sys.argv[1]), float(sys.argv[2])
    loop = _new_loop()
    ready: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(target_port, latency, ready, stop),),
                              daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 30), loop).result()
    print(port, flush=True)
    try:
        sys.stdin.read()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
