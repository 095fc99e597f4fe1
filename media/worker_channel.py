"""Messages between the server and a media worker process: pickled tuples over a socket pair, read
and written by the event loop.

Why not ``multiprocessing``'s ``Connection``: its ``send`` and ``recv`` are blocking calls that
assume a blocking file descriptor, and uvloop (the server's loop, and the one the workers may run)
switches a descriptor it watches to non-blocking. Under load a ``send`` then stopped half-way with
``BlockingIOError`` (the stream lost its framing for good), and a ``recv`` of a message that had
not fully arrived raised ``BlockingIOError``, which the pool took for a dead worker. Here each end
is an asyncio stream: a send is buffered by the transport and never blocks the loop or splits a
message, and a message is handed over only once all of it has arrived, on either kind of loop.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from typing import Any

_LENGTH = struct.Struct("!I")
"""Each message is its pickled bytes after their length."""


class WorkerChannel:
    """One end of the channel; both ends are alike."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> WorkerChannel:
        """Take over ``sock`` (a connected stream socket, one end of a ``socket.socketpair()``)."""
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    def send(self, message: object) -> None:
        """Queue ``message`` whole; raises ``BrokenPipeError`` once the channel is closed or lost."""
        if self._writer.is_closing():
            raise BrokenPipeError("the media worker channel is closed")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(data)) + data)

    async def receive(self) -> Any:
        """The next whole message; ``EOFError`` when the other end has gone."""
        try:
            header = await self._reader.readexactly(_LENGTH.size)
            (length,) = _LENGTH.unpack(header)
            data = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise EOFError("the media worker channel was closed") from error
        # Only our own worker process holds the other end of this socket pair.
        return pickle.loads(data)  # noqa: S301

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the socket (or the channel is lost)."""
        try:
            await self._writer.drain()
        except ConnectionError:
            pass

    def close(self) -> None:
        self._writer.close()
