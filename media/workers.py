"""Media in worker processes: one Python process uses about one core, so rooms are spread over
several processes, each owning whole rooms.

The pool is itself a :class:`MediaBackend`: signaling calls it exactly as it would call an
in-process backend, and the pool routes each call to the worker that owns the call's room. A
worker runs an ordinary backend built by a picklable factory; requests, replies and media events
cross a socket pair as small pickled tuples (:mod:`media.worker_channel`, read and written by each
side's event loop). This is also the seam for media on other machines: only the transport would
change.

If a worker dies, its pending calls fail with ``media_unavailable``, its rooms move at once to the
least loaded worker that is already running (never to a replacement that is still importing
aiortc), every participant it served gets a ``failed`` connection event (so their pages reconnect
there), and a fresh worker starts in its place, taking rooms only once it says it is ready.

A worker runs its loop on uvloop, as the main server does: libuv receives and sends the UDP
datagrams in C, where asyncio's selector transport pays a Python call, a selector round and
exception handling per datagram, and that was the largest share of a worker's CPU per packet
forwarded (docs/performance.md).

Every ``census_seconds`` each worker sends its :class:`~media.census.MediaCensus` (with its own
CPU time and event-loop lag) up the same channel; the pool keeps the latest one of each worker for
the metrics.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import multiprocessing
import resource
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass, field, replace
from multiprocessing.process import BaseProcess
from typing import Any

import uvloop

from media.backend import (
    IceCandidate,
    LinkReport,
    MediaBackend,
    MediaError,
    MediaErrorCode,
    MediaEvent,
    MediaEventKind,
    MediaListener,
    SessionDescription,
)
from media.census import MediaCensus, TakesCensus
from media.ice import IceSettings, restrict_host_addresses
from media.worker_channel import WorkerChannel

logger = logging.getLogger(__name__)

BackendFactory = Callable[[IceSettings, MediaListener], MediaBackend]
"""Builds the backend inside a worker; must be a module-level function so it can be pickled."""

_CLOSE = "close"
_READY = "ready"

GC_THRESHOLDS = (50_000, 20, 100)
"""The collector's thresholds in a worker and in the serving process (``web/runtime.py``):
allocations before a young collection (default 700), then young collections per middle one (10)
and middle ones per full one (10). Each forwarded packet allocates a few short-lived tracked
objects, so with the default a young collection ran tens of times a second, and collecting took
about 3 % of a worker's CPU at 4 consults (``perf``, docs/performance.md). A full collection
still needs the long-lived heap to have grown by a quarter since the last, and start-up objects
are frozen once the backend is built, so full collections come rarely and never walk them."""

READY_SECONDS = 30.0
"""How long a call waits for a worker to finish starting before it answers ``media_unavailable``."""


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    channel: WorkerChannel
    reader: asyncio.Task[None] | None = None
    rooms: dict[str, set[str]] = field(default_factory=dict)
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    census: MediaCensus | None = None
    ready: bool = False
    """The worker built its backend and reads requests: only then does it take rooms."""


class WorkerPool:
    def __init__(
        self,
        count: int,
        factory: BackendFactory,
        ice: IceSettings,
        listener: MediaListener,
        shutdown_seconds: float = 5.0,
        *,
        initializer: Callable[[], None] | None = None,
        census_seconds: float = 1.0,
        preload: tuple[str, ...] = (),
    ) -> None:
        """``initializer`` runs first in each worker process (picklable: it sets up logging);
        ``preload``: modules the workers' fork server imports once (see :func:`_worker_context`)."""
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._count = count
        self._factory = factory
        self._ice = ice
        self._listener = listener
        self._context = _worker_context(factory, initializer, preload)
        self._workers: list[_Worker] = []
        self._owner: dict[str, _Worker] = {}
        self._ids = itertools.count(1)
        self._closing = False
        self._shutdown_seconds = shutdown_seconds
        self._initializer = initializer
        self._census_seconds = census_seconds
        self._ready = asyncio.Condition()

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    @property
    def size(self) -> int:
        return self._count

    def alive(self) -> int:
        """How many worker processes are running now."""
        return sum(1 for w in self._workers if w.process.is_alive())

    def census(self) -> dict[int, MediaCensus]:
        """The latest census of each running worker, by worker index."""
        return {w.index: w.census for w in self._workers if w.census is not None and w.process.is_alive()}

    def ready(self) -> int:
        """How many worker processes are running and take rooms now."""
        return sum(1 for w in self._workers if w.ready and w.process.is_alive())

    async def start(self) -> None:
        for index in range(self._count):
            self._workers.append(await self._spawn(index))

    # -- MediaBackend -------------------------------------------------------------------------

    async def connect(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        sources: Mapping[str, str] | None = None,
    ) -> SessionDescription:
        worker = self._owner.get(room_id) or await self._assign(room_id)
        try:
            sdp, kind = await self._call(
                worker, "connect", room_id, participant_id, offer.sdp, offer.type, dict(sources or {})
            )
        except MediaError:
            if not worker.rooms.get(room_id):
                self._release(room_id)
            raise
        worker.rooms.setdefault(room_id, set()).add(participant_id)
        return SessionDescription(sdp=sdp, type=kind)

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        worker = self._owner.get(room_id) or await self._assign(room_id)
        try:
            await self._call(worker, "subscribe", room_id, participant_id)
        except MediaError:
            if not worker.rooms.get(room_id):
                self._release(room_id)
            raise
        worker.rooms.setdefault(room_id, set()).add(participant_id)

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        worker = self._owning(room_id)
        await self._call(
            worker, "subscriber_answer", room_id, participant_id, answer.sdp, answer.type, revision
        )

    async def set_receive(
        self, room_id: str, participant_id: str, *, video: bool, data_saver: bool = False
    ) -> None:
        await self._call(self._owning(room_id), "set_receive", room_id, participant_id, video, data_saver)

    async def set_sharing(self, room_id: str, participant_id: str, *, screen: bool) -> None:
        await self._call(self._owning(room_id), "set_sharing", room_id, participant_id, screen)

    async def link_report(self, room_id: str, participant_id: str, report: LinkReport) -> None:
        counts = astuple(report)
        await self._call(self._owning(room_id), "link_report", room_id, participant_id, *counts)

    async def add_candidate(
        self, room_id: str, participant_id: str, candidate: IceCandidate, target: str = "publisher"
    ) -> None:
        text, mid, index = candidate.candidate, candidate.sdp_mid, candidate.sdp_mline_index
        await self._call(
            self._owning(room_id), "add_candidate", room_id, participant_id, text, mid, index, target
        )

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        worker = self._owner.get(room_id)
        if worker is None:
            return
        await self._call(worker, "disconnect", room_id, participant_id)
        participants = worker.rooms.get(room_id, set())
        participants.discard(participant_id)
        if not participants:
            self._release(room_id)

    async def close_room(self, room_id: str) -> None:
        worker = self._owner.get(room_id)
        if worker is None:
            return
        await self._call(worker, "close_room", room_id)
        self._release(room_id)

    async def close(self) -> None:
        """Close every worker's peers and stop the workers, forcibly after ``shutdown_seconds``."""
        self._closing = True
        for worker in self._workers:
            try:
                worker.channel.send((_CLOSE,))
            except BrokenPipeError:
                pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._shutdown_seconds
        for worker in self._workers:
            remaining = max(0.1, deadline - loop.time())
            await asyncio.to_thread(worker.process.join, remaining)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, 2)
            self._forget(worker)

    # -- routing --------------------------------------------------------------------------------

    async def _assign(self, room_id: str) -> _Worker:
        """The least loaded ready worker takes the room; with none ready yet, wait for one."""
        if self._closing:  # no worker will be ready again: say so now rather than after the wait
            raise MediaError(MediaErrorCode.UNAVAILABLE, "The media server is shutting down.")
        async with self._ready:
            try:
                await asyncio.wait_for(
                    self._ready.wait_for(lambda: room_id in self._owner or self._least_loaded() is not None),
                    READY_SECONDS,
                )
            except TimeoutError:
                raise MediaError(MediaErrorCode.UNAVAILABLE, "The media server is starting.") from None
        owner = self._owner.get(room_id)  # a concurrent call for the same room placed it meanwhile
        if owner is not None:
            return owner
        worker = self._least_loaded()
        assert worker is not None
        self._owner[room_id] = worker
        worker.rooms.setdefault(room_id, set())
        return worker

    def _least_loaded(self) -> _Worker | None:
        candidates = [w for w in self._workers if w.ready and w.process.is_alive()]
        return min(candidates, key=lambda w: (len(w.rooms), w.index)) if candidates else None

    def _owning(self, room_id: str) -> _Worker:
        worker = self._owner.get(room_id)
        if worker is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection for this room.")
        return worker

    def _release(self, room_id: str) -> None:
        worker = self._owner.pop(room_id, None)
        if worker is not None:
            worker.rooms.pop(room_id, None)

    async def _call(self, worker: _Worker, method: str, *args: object) -> Any:
        if self._closing:
            raise MediaError(MediaErrorCode.UNAVAILABLE, "The media server is shutting down.")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        try:
            worker.channel.send((method, request_id, args))
        except BrokenPipeError:
            worker.pending.pop(request_id, None)
            raise MediaError(MediaErrorCode.UNAVAILABLE, "The media server is unavailable.") from None
        return await future

    # -- worker life cycle ----------------------------------------------------------------------

    async def _spawn(self, index: int) -> _Worker:
        parent_end, child_end = socket.socketpair()
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, self._factory, self._ice, self._initializer, self._census_seconds),
            name=f"teleconsulta-media-{index}",
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(index, process, await WorkerChannel.open(parent_end))
        worker.reader = asyncio.get_running_loop().create_task(self._read(worker))
        return worker

    async def _read(self, worker: _Worker) -> None:
        while True:
            try:
                message = await worker.channel.receive()
            except EOFError:
                asyncio.get_running_loop().create_task(self._on_worker_lost(worker))
                return
            self._on_message(worker, message)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == _READY:
            worker.ready = True
            asyncio.get_running_loop().create_task(self._announce_ready())
        elif kind == "reply":
            _, request_id, result = message
            future = worker.pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(result)
        elif kind == "error":
            _, request_id, code, text = message
            future = worker.pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_exception(MediaError(MediaErrorCode(code), text))
        elif kind == "event":
            asyncio.get_running_loop().create_task(self._deliver(message[1]))
        elif kind == "census":
            worker.census = message[1]

    async def _announce_ready(self) -> None:
        async with self._ready:
            self._ready.notify_all()

    async def _deliver(self, event: MediaEvent) -> None:
        await self._listener(event)

    async def _on_worker_lost(self, worker: _Worker) -> None:
        self._forget(worker)
        if self._closing or worker not in self._workers:
            return
        logger.error(
            "media worker %d exited with %s; starting a new one", worker.index, worker.process.exitcode
        )
        worker.ready = False
        lost = [(room, participant) for room, people in worker.rooms.items() for participant in people]
        for room_id in list(worker.rooms):
            self._release(room_id)
            heir = self._least_loaded()
            if heir is not None:  # else the room waits in _assign for the first worker ready
                self._owner[room_id] = heir
                heir.rooms.setdefault(room_id, set())
        self._workers[self._workers.index(worker)] = await self._spawn(worker.index)
        for room_id, participant_id in lost:
            await self._listener(
                MediaEvent(room_id, participant_id, MediaEventKind.CONNECTION, {"state": "failed"})
            )

    def _forget(self, worker: _Worker) -> None:
        if worker.reader is not None:
            worker.reader.cancel()
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(
                    MediaError(MediaErrorCode.UNAVAILABLE, "The media server is unavailable.")
                )
        worker.pending.clear()
        worker.channel.close()


# -- inside a worker process --------------------------------------------------------------------


def _worker_context(
    factory: BackendFactory, initializer: Callable[[], None] | None, preload: tuple[str, ...]
) -> multiprocessing.context.ForkServerContext:
    """Workers are forked from a server process that has imported the media stack once.

    A fresh interpreter per worker (``spawn``) imports aiortc, PyAV and the backend's modules
    again: about 0.8 s of CPU each, at every start and at every restart after a crash, while the
    rooms of the worker that died wait. The fork server is itself started fresh, before any thread
    or event loop, so forking from it is as safe as spawning; only its imports are shared.

    A child still runs the parent's main script again (multiprocessing does so to unpickle what it
    defines), and with it whatever that script imports: ``preload`` names those modules, so the
    fork server has them and the run costs nothing.

    The fork server is one per process, started by the first pool that starts a worker: a later
    pool's modules are imported by its workers themselves (correct, only not shared).
    """
    context = multiprocessing.get_context("forkserver")
    modules = {__name__, factory.__module__, *preload}
    target = getattr(initializer, "func", initializer)  # functools.partial: the function it wraps
    if target is not None:
        modules.add(target.__module__)
    context.set_forkserver_preload(sorted(modules))
    return context


def _worker_main(
    sock: socket.socket,
    factory: BackendFactory,
    ice: IceSettings,
    initializer: Callable[[], None] | None,
    census_seconds: float,
) -> None:
    # The parent owns SIGINT/SIGTERM handling and closes workers through the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer()
    if ice.host_addresses:
        restrict_host_addresses(ice.host_addresses)
    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(_serve(sock, factory, ice, census_seconds))


async def _report(channel: WorkerChannel, backend: MediaBackend, every: float) -> None:
    """Send the backend's census up the channel every ``every`` seconds, with this process's CPU time
    and how late the loop woke up (a busy worker's loop wakes late)."""
    if not isinstance(backend, TakesCensus):
        return
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        census = replace(
            backend.census(),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            loop_lag_seconds=max(0.0, loop.time() - due),
        )
        try:
            channel.send(("census", census))
        except BrokenPipeError:
            return  # the parent is gone; the worker is closing


async def _serve(
    sock: socket.socket, factory: BackendFactory, ice: IceSettings, census_seconds: float
) -> None:
    loop = asyncio.get_running_loop()
    channel = await WorkerChannel.open(sock)
    tasks: set[asyncio.Task[None]] = set()

    def send(message: tuple[Any, ...]) -> None:
        try:
            channel.send(message)
        except BrokenPipeError:
            pass  # the parent is gone: the loop below sees it and the worker closes

    async def send_event(event: MediaEvent) -> None:
        send(("event", event))

    backend = factory(ice, send_event)
    gc.collect()
    gc.freeze()
    # A worker that serves without trouble writes nothing else (uvloop, unlike asyncio, logs no
    # line of its own at start): at debug level the logs still show each worker and its loop.
    logger.debug("media worker ready on %s", type(loop).__module__)
    send((_READY,))

    async def handle(method: str, request_id: int, args: tuple[Any, ...]) -> None:
        try:
            result = await _dispatch(backend, method, args)
            send(("reply", request_id, result))
        except MediaError as error:
            send(("error", request_id, error.code.value, error.message))
        except Exception as error:
            logger.exception("media worker call %s failed", method)
            send(("error", request_id, MediaErrorCode.UNAVAILABLE.value, type(error).__name__))

    reporter = loop.create_task(_report(channel, backend, census_seconds))
    try:
        while True:
            try:
                message = await channel.receive()
            except EOFError:
                break  # the parent is gone
            if message[0] == _CLOSE:
                break
            task = loop.create_task(handle(*message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        reporter.cancel()
        await backend.close()
        await channel.drain()
        channel.close()


async def _dispatch(backend: MediaBackend, method: str, args: tuple[Any, ...]) -> object:
    if method == "connect":
        room_id, participant_id, sdp, kind, sources = args
        answer = await backend.connect(
            room_id, participant_id, SessionDescription(sdp=sdp, type=kind), sources
        )
        return (answer.sdp, answer.type)
    if method == "subscribe":
        await backend.subscribe(*args)
        return None
    if method == "subscriber_answer":
        room_id, participant_id, sdp, kind, revision = args
        await backend.subscriber_answer(
            room_id, participant_id, SessionDescription(sdp=sdp, type=kind), revision
        )
        return None
    if method == "set_receive":
        room_id, participant_id, video, data_saver = args
        await backend.set_receive(room_id, participant_id, video=video, data_saver=data_saver)
        return None
    if method == "set_sharing":
        room_id, participant_id, screen = args
        await backend.set_sharing(room_id, participant_id, screen=screen)
        return None
    if method == "link_report":
        room_id, participant_id, *counts = args
        await backend.link_report(room_id, participant_id, LinkReport(*counts))
        return None
    if method == "add_candidate":
        room_id, participant_id, text, mid, index, target = args
        await backend.add_candidate(room_id, participant_id, IceCandidate(text, mid, index), target)
        return None
    if method == "disconnect":
        await backend.disconnect(*args)
        return None
    if method == "close_room":
        await backend.close_room(*args)
        return None
    raise ValueError(f"unknown media call {method!r}")
