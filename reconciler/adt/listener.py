"""An MLLP listener (python-hl7's asyncio server): one message at a time per connection, each processed by one
worker thread (so files are written in the order messages arrive, whatever the connection), and its ACK
sent only once ``handle`` returned, i.e. after the spec is durably written.

Stopping (``stop()``, which the command calls on SIGTERM or SIGINT): no new connection is accepted, an idle
connection is closed, and a connection whose message is being processed gets its ACK first.
MLLP (HL7 v2 Appendix C): ``0x0B`` + message + ``0x1C 0x0D``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from hl7.mllp import start_hl7_server

Handler = Callable[[bytes], bytes]  # a block's bytes -> the ACK's bytes (never raises)


class Listener:
    """Serve HANDLER on HOST:PORT until ``stop()``. ``on_ready(host, port)`` is called once listening."""

    def __init__(self, handler: Handler, host: str, port: int, on_ready: Callable[[str, int], None]) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.on_ready = on_ready
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._idle: dict[Any, bool] = {}  # writer -> waiting for a message (not processing one)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="adt-worker")

    def run(self, install: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None] | None = None) -> None:
        """Serve until stopped. INSTALL(loop, stop) may hook signals to ``stop`` once the loop runs."""
        try:
            asyncio.run(self._serve(install))
        finally:
            self._worker.shutdown(wait=True)

    def stop(self) -> None:
        """Ask the listener to stop (from the loop's thread, e.g. a signal handler added to the loop)."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.close()  # no new connection from here on
        for writer, idle in list(self._idle.items()):
            if idle:
                writer.close()

    async def _serve(self, install: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if install is not None:
            install(self._loop, self.stop)
        server = await start_hl7_server(self._connection, self.host, self.port, limit=16 * 1024 * 1024)
        self._server = server
        host, port = server.sockets[0].getsockname()[:2]
        self.on_ready(str(host), int(port))
        await self._stopping.wait()
        server.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # each finishes the message in hand

    async def _connection(self, reader: Any, writer: Any) -> None:
        assert self._loop is not None and self._stopping is not None
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._idle[writer] = True
        if self._stopping.is_set():
            writer.close()
        try:
            while not self._stopping.is_set():
                try:
                    block = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError):
                    break  # the sender closed the connection (or we did, stopping)
                except Exception:  # a block without its start byte, or one too large
                    block = b""
                self._idle[writer] = False
                answer = await self._loop.run_in_executor(self._worker, self.handler, bytes(block))
                writer.writeblock(answer)
                await writer.drain()
                self._idle[writer] = True
        except ConnectionError:
            pass
        finally:
            self._idle.pop(writer, None)
            writer.close()
            if task is not None:
                self._tasks.discard(task)
