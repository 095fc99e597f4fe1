"""The load generators' processes and the orchestrator's handle on them.

The clients run in their own processes (spawned, each with its own event loop) so their CPU is
not the server's and several cores can generate load. The orchestrator sends one command at a
time over a pipe, ``(name, args)``, and gets ``("ok", value)`` or ``("error", traceback)``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from media.ice import restrict_host_addresses

from .counting import DecodeErrors
from .load_client import LoadClient


def client_main(pipe: Connection, index: int) -> None:
    """Entry point of a load-generating process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    restrict_host_addresses(["127.0.0.1"])
    errors = DecodeErrors()
    logging.getLogger("aiortc.rtcrtpreceiver").addHandler(errors)
    asyncio.run(_client_loop(pipe, LoadClient(index, errors)))


async def _client_loop(pipe: Connection, client: LoadClient) -> None:
    loop = asyncio.get_running_loop()
    commands: dict[str, Callable[..., Awaitable[Any]]] = {
        "load": client.load,
        "open_consult": client.open_consult,
        "add_invitees": client.add_invitees,
        "late_join": client.late_join,
        "end_consults": client.end_consults,
        "report": client.report,
    }
    while True:
        message = await loop.run_in_executor(None, _receive, pipe)
        if message is None or message[0] == "exit":
            await client.close()
            return
        name, args = message
        try:
            pipe.send(("ok", await commands[name](*args)))
        except Exception:
            pipe.send(("error", traceback.format_exc()))


def _receive(pipe: Connection) -> Any:
    try:
        return pipe.recv()
    except EOFError:
        return None


class ClientHandle:
    """One load-generating process, seen from the orchestrator."""

    def __init__(self, index: int, context: SpawnContext) -> None:
        self.index = index
        self.pipe, child = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=client_main, args=(child, index), name=f"relay-client-{index}", daemon=True
        )
        self.process.start()
        child.close()

    def send(self, name: str, *args: Any) -> None:
        self.pipe.send((name, args))

    def result(self, timeout: float = 120) -> Any:
        if not self.pipe.poll(timeout):
            raise TimeoutError(f"client {self.index} did not answer in {timeout} s")
        status, value = self.pipe.recv()
        if status != "ok":
            raise RuntimeError(f"client {self.index} failed:\n{value}")
        return value

    def call(self, name: str, *args: Any, timeout: float = 120) -> Any:
        self.send(name, *args)
        return self.result(timeout)

    def close(self) -> None:
        try:
            self.pipe.send(("exit", ()))
        except OSError:
            pass
        self.process.join(20)
        if self.process.is_alive():
            self.process.kill()


def call_all(clients: list[ClientHandle], calls: dict[int, tuple[str, tuple[Any, ...]]]) -> dict[int, Any]:
    """Run one command on several clients at once."""
    for index, (name, args) in calls.items():
        clients[index].send(name, *args)
    return {index: clients[index].result() for index in calls}
