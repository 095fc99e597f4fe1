"""The composition root: one function builds the whole server from :class:`Settings`.

Nothing here holds domain rules; it constructs the stores, the record archive, the media
backend and the socket server, wires them together, and exposes the HTTP routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from cluster.bridge import PlacedMedia
from cluster.node import ClusterNode, NodeSettings, cluster_node
from cluster.placements import Placement
from media.backend import MediaBackend, MediaEvent
from media.ice import IceSettings, restrict_host_addresses
from media.sfu import packet_sfu, reencoding_sfu
from media.turn import TurnSettings, turn_credentials
from media.workers import WorkerPool
from notifications.recording import RecordOutbox, SummaryReady
from records.access import AccessContext
from records.db import create_engine
from records.migrate import migrate
from records.outbox import OutboxStore
from records.photos import PhotoArchive
from records.repository import RecordRepository
from records.retention import Retention
from records.seal import seal_key
from records.session_logs import SessionLogArchive
from records.short_links import ShortLinkStore
from records.staff import StaffDirectory
from rooms import summary_links
from rooms.consult import Consult
from rooms.roles import STAFF_ROLES
from rooms.session_log import SessionEvent
from rooms.store.background import stop
from rooms.store.base import Stores
from rooms.store.memory import memory_stores
from rooms.store.redis import RedisConsultStore, RedisStaffCache, redis_stores
from services.chat import ChatService
from services.consults import ConsultService
from services.interunit import InterunitSessions, SessionPatients
from services.invitations import Invitations
from services.lifecycle import NodeLifecycle
from services.photos import PhotoService
from services.scheduling import QueueSweep, Scheduling
from services.supervision import UnitOverview
from signaling.chat import SocketChatDelivery
from signaling.connections import Registry
from signaling.live import SocketLiveRooms
from signaling.node_state import NodeState
from signaling.roster import LocalRoster, RedisRoster
from signaling.server import SignalingServer, SignalingSettings, socket_server
from web.admin_accounts import SETUP_PAGE, Accounts
from web.admin_api import AdminApi
from web.auth import Authenticator, PasswordHashing
from web.backpressure import PRESSURE, LoopPressure
from web.config import Settings
from web.errors import ApiError, api_errors
from web.fhir_routes import FhirApi, fhir_errors
from web.health import Readiness
from web.instrumentation import QueueGauges, http_metrics, loop_lag, metrics_route, time_database, timed_redis
from web.login_throttle import ThrottlePolicy, login_throttle
from web.logs import configure as configure_logging
from web.metrics import Metrics
from web.network_check import NetworkCheck
from web.notes_api import NotesApi
from web.notifying import dispatcher_lifecycle, unsubscribe_key
from web.openapi import OpenApi
from web.outage import outage_errors
from web.outbox_api import OutboxApi
from web.payloads import answer
from web.photos_api import PhotosApi
from web.redis_connection import RedisManager
from web.refusals import refusal_log
from web.runtime import GcPauses
from web.scheduling.routes import scheduling_routes
from web.schemas.session_log import SessionEventView, SessionLogView
from web.security import long_polling_guard, same_origin_writes, security_headers
from web.sessions_api import SessionsApi
from web.short_links import ShortLinks
from web.stores import scheduling_from
from web.summary import SummaryApi
from web.supervision import SupervisionApi
from web.upload_limit import UploadPolicy, upload_limit

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    engine: AsyncEngine
    archive: SessionLogArchive
    media: MediaBackend
    signaling: SignalingServer
    auth: Authenticator
    clock: Callable[[], datetime]
    redis: Redis | None
    records: RecordRepository
    scheduling: Scheduling
    consults: ConsultService
    invitations: Invitations
    lifecycle: NodeLifecycle
    live_calls: Callable[[], Awaitable[int]]
    """How many live calls this node carries (draining waits for none)."""
    accounts: Accounts


SERVICES = web.AppKey("services", Services)
CLUSTER = web.AppKey("cluster", ClusterNode)
"""This node's part of the cluster (registry, call channel, bridge), set only with Redis."""


ENTRY_MODULES = ("web.cli",)
"""What the entry points (``teleconsulta``, ``python -m web``) import: a media worker runs its
parent's main script again, so its fork server imports these once (:class:`media.workers.WorkerPool`)."""


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> web.Application:
    if settings.media_host_addresses:
        restrict_host_addresses(settings.media_host_addresses)
    metrics = Metrics(settings.node_id)
    redis = timed_redis(settings, metrics) if settings.redis_url else None
    engine = create_engine(settings.database_url)
    time_database(engine, metrics)
    # Accounts live in the record database; Redis (when configured) only caches them for a while.
    directory = StaffDirectory(
        engine, clock=clock, cache=RedisStaffCache(redis) if redis is not None else None
    )
    # An ended consult's live copy (its log holds the chat's words) lives as long as the archive's chat.
    ended_ttl = settings.session_log_retention_days * 86400
    stores = (
        redis_stores(redis, directory, ended_ttl_seconds=ended_ttl)
        if redis is not None
        else memory_stores(directory, ended_ttl_seconds=ended_ttl)
    )
    scheduling = scheduling_from(settings, stores.consults, redis, clock)
    archive = SessionLogArchive(engine)
    records = RecordRepository(
        engine,
        signing_key=seal_key(settings.secret_key),
        old_signing_keys=[seal_key(old) for old in settings.old_secret_keys],
        clock=clock,
    )
    outbox_store = OutboxStore(engine, new_id=lambda: str(uuid.uuid4()))
    outbox = RecordOutbox(outbox_store, clock)
    short_links = ShortLinkStore(engine)
    scheduling.outbox = outbox
    ice = IceSettings(host_addresses=settings.media_host_addresses)

    async def media_events(event: MediaEvent) -> None:
        metrics.media_event(event)
        await signaling.on_media_event(event)

    factory = packet_sfu if settings.media_forwarding == "packet" else reencoding_sfu
    local_media: MediaBackend = (
        WorkerPool(
            settings.media_workers,
            factory,
            ice,
            media_events,
            initializer=partial(configure_logging, settings.log_level, settings.log_format, settings.node_id),
            preload=ENTRY_MODULES,
        )
        if settings.media_workers > 0
        else factory(ice, media_events)
    )
    node = _cluster(settings, redis, local_media, lambda: live) if redis is not None else None
    media: MediaBackend = node.media if node is not None else local_media
    turn = (
        TurnSettings(settings.turn_urls, settings.turn_secret, settings.turn_ttl_seconds)
        if settings.turn_urls
        else None
    )

    def ice_servers_for(participant_id: str) -> list[dict[str, object]]:
        """Configured STUN/TURN servers plus, with TURN, fresh credentials for this participant."""
        servers = list(settings.browser_ice_servers)
        if turn is not None:
            servers.append(turn_credentials(turn, participant_id, clock().timestamp()))
        return [server.to_browser() for server in servers]

    async def archive_log(consult_id: str, events: list[SessionEvent]) -> None:
        """The consult ended: keep its log, and let a note signed during the call finish its Encounter."""
        await archive.store(consult_id, events)
        await records.follow_consult_end(consult_id)
        logger.info(
            "consult ended; session log archived (%d events)", len(events), extra={"consult_id": consult_id}
        )

    async def grant_care(consult: Consult, address: str) -> None:
        """The nurse who admits a patient gets a role in their care, so she may write and read the record."""
        member = await stores.staff.by_id(consult.host_id or "")
        if member is None or member.role not in STAFF_ROLES:
            return
        nss = consult.record_nss
        if not nss or await records.patient_id(nss) is None:
            return  # no patient, or one not registered in the record yet: nothing to grant
        ctx = AccessContext.staff(member.staff_id, member.full_name, member.role, address)
        await records.grant_care(nss, member.staff_id, consult.consult_id, ctx)

    async def patient_known(nss: str) -> bool:
        return await records.patient_id(nss) is not None

    # The live side first (the use cases announce through it), then the use cases, then the
    # socket server that routes events to them.
    unlimited = settings.connections_per_second == 0
    signaling_settings = SignalingSettings(
        token_key=settings.secret_key,
        ice_transport_policy=settings.ice_transport_policy,
        reconnect_grace_seconds=settings.reconnect_grace_seconds,
        connections_per_second=float("inf") if unlimited else settings.connections_per_second,
        connection_burst=float("inf") if unlimited else max(1.0, 2 * settings.connections_per_second),
    )
    lifecycle = NodeLifecycle()
    sio = socket_server(
        signaling_settings,
        RedisManager(
            settings.redis_url,
            pool_size=settings.redis_pool_size,
            pool_timeout=settings.redis_pool_timeout_seconds,
        )
        if settings.redis_url
        else None,
    )
    registry, node_state = Registry(), NodeState()
    pressure = (
        LoopPressure(
            connection_lag=settings.overload_lag_seconds, event_lag=2 * settings.overload_lag_seconds
        )
        if settings.overload_lag_seconds > 0
        else None
    )
    metrics.watch(local_media, lambda: len(registry.by_sid))
    live = SocketLiveRooms(
        sio, registry, stores, media, node_state, clock, scheduling.queues.bump, node.news if node else None
    )
    scheduling.queues.listen(live.queue_entries_changed)  # consoles hear each queue change as a diff
    if node is not None:
        node.news.on_consult_closed(live.let_go)
    consults = ConsultService(
        consults=stores.consults,
        live=live,
        clock=clock,
        lobby=scheduling,
        on_admitted=grant_care,
        on_ended=archive_log,
    )
    invitations = Invitations(
        consults=consults, store=stores.consults, token_key=settings.secret_key, clock=clock
    )
    sessions = InterunitSessions(
        store=stores.consults,
        consults=consults,
        invitations=invitations,
        specialties=settings.interunit_specialties,
        clock=clock,
        patients=SessionPatients(known=patient_known, grant_care=grant_care),
    )
    chat = ChatService(consults=stores.consults, delivery=SocketChatDelivery(sio), clock=clock)
    photos = PhotoService(consults=stores.consults, photos=PhotoArchive(engine), chat=chat, clock=clock)
    signaling = SignalingServer(
        sio=sio,
        live=live,
        registry=registry,
        state=node_state,
        stores=stores,
        consults=consults,
        invitations=invitations,
        chat=chat,
        media=media,
        settings=signaling_settings,
        ice_servers_for=ice_servers_for,
        clock=clock,
        observer=metrics,
        lifecycle=lifecycle,
        roster=RedisRoster(redis, settings.node_id) if redis is not None else LocalRoster(),
        overload=pressure,
    )
    auth = Authenticator(
        stores,
        session_lifetime=timedelta(hours=settings.session_hours),
        secure_cookies=settings.secure_cookies,
        clock=clock,
        throttle=login_throttle(
            redis,
            ThrottlePolicy(
                user_failures=settings.login_user_failures,
                address_failures=settings.login_address_failures,
                delay_seconds=settings.login_delay_seconds,
                max_delay_seconds=settings.login_max_delay_seconds,
            ),
        ),
        passwords=PasswordHashing(settings.password_hash_threads),
    )
    services = Services(
        settings,
        stores,
        engine,
        archive,
        media,
        signaling,
        auth,
        clock,
        redis,
        records,
        scheduling,
        consults,
        invitations,
        lifecycle,
        signaling.live_calls,
        Accounts(directory, stores.sessions, settings.base_url),
    )

    middlewares = [
        security_headers,
        same_origin_writes(settings.public_url),
        # engine.io hangs a long-polling POST it refuses until the next poll (see long_polling_guard).
        long_polling_guard(
            "/socket.io/",
            int(signaling.sio.eio.max_http_buffer_size),
            answer_within=float(signaling.sio.eio.ping_interval + signaling.sio.eio.ping_timeout),
        ),
        api_errors,
        outage_errors,
        http_metrics(metrics),
        refusal_log(stores.consults, auth.current_staff, clock),
        fhir_errors,
    ]
    app = web.Application(middlewares=middlewares, client_max_size=256 * 1024)
    app[SERVICES] = services
    app.cleanup_ctx.append(_connections)
    signaling.attach(app)
    app.cleanup_ctx.append(_lifecycle)
    if node is not None:
        app[CLUSTER] = node
        app.cleanup_ctx.append(node.lifecycle)
        app.cleanup_ctx.append(_placement_follows_draining(lifecycle, node))
    app.cleanup_ctx.append(
        QueueSweep(scheduling, consults, clock=clock, interval=settings.queue_sweep_seconds).lifecycle
    )
    readiness = Readiness(engine, redis, local_media, lifecycle)
    app.cleanup_ctx.append(loop_lag(metrics))
    app.cleanup_ctx.append(dispatcher_lifecycle(settings, outbox_store, short_links, metrics, clock))
    app.cleanup_ctx.append(Retention(engine, days=settings.session_log_retention_days, clock=clock).lifecycle)
    app.cleanup_ctx.append(GcPauses(metrics.gc_pause).lifecycle)
    if pressure is not None:
        app[PRESSURE] = pressure
        app.cleanup_ctx.append(pressure.lifecycle)
    app.on_shutdown.append(readiness.drain)
    app.on_shutdown.append(_tell_clients)
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", readiness.handle)
    app.router.add_routes([metrics_route(metrics, QueueGauges(scheduling, metrics, clock))])
    app.router.add_get("/paciente", _page("patient.html"))
    app.router.add_get("/consola", _page("console.html"))
    app.router.add_get("/resumen", _page("summary.html"))
    app.router.add_get("/supervision", _page("supervision.html"))
    app.router.add_get("/baja", _page("unsubscribe.html"))
    app.router.add_routes(
        ShortLinks(short_links, missing_page=STATIC_DIR / "short_link_missing.html", clock=clock).routes()
    )
    app.router.add_get(SETUP_PAGE, _page("password.html"))
    app.router.add_post("/api/session", auth.login)
    app.router.add_get("/api/session", auth.me)
    app.router.add_delete("/api/session", auth.logout)
    app.router.add_get("/api/consults/{consult_id}/log", _session_log)
    app.router.add_routes(NetworkCheck().routes())
    app.router.add_routes(
        PhotosApi(
            photos=photos,
            consults=stores.consults,
            auth=auth,
            uploads=upload_limit(redis, UploadPolicy(), lambda: clock().timestamp()),
            token_key=settings.secret_key,
            clock=clock,
        ).routes()
    )
    app.router.add_routes(
        NotesApi(
            records=records,
            stores=stores,
            archive=archive,
            auth=auth,
            clock=clock,
            summary_ready=SummaryReady(
                outbox,
                scheduling.appointments,
                link_key=summary_links.derive_key(settings.secret_key),
                link_days=settings.summary_link_days,
                clock=clock,
            ),
        ).routes()
    )
    app.router.add_routes(
        SummaryApi(
            records=records,
            stores=stores,
            appointments=scheduling.appointments,
            auth=auth,
            token_key=settings.secret_key,
            link_key=summary_links.derive_key(settings.secret_key),
            link_days=settings.summary_link_days,
            base_url=settings.public_url.rstrip("/"),
            clock=clock,
        ).routes()
    )
    app.router.add_routes(
        FhirApi(records=records, auth=auth, clock=clock, public_url=settings.public_url).routes()
    )
    app.router.add_routes(
        scheduling_routes(settings, scheduling, auth, stores, consults, records, clock, outbox=outbox)
    )
    app.router.add_routes(
        OutboxApi(
            store=outbox_store, auth=auth, unsubscribe_key=unsubscribe_key(settings), clock=clock
        ).routes()
    )
    app.router.add_routes(OpenApi().routes())
    app.router.add_routes(SessionsApi(invitations, sessions, auth, settings).routes())
    overview = UnitOverview(
        appointments=scheduling.appointments,
        queues=scheduling.queues,
        consults=stores.consults,
        policy=scheduling.queue_policy,
        clock=clock,
    )
    app.router.add_routes(SupervisionApi(overview, auth.current_staff).routes())
    app.router.add_routes(AdminApi(services.accounts, auth, settings.public_url).routes())
    app.router.add_get(
        "/static/vendor/socket.io.esm.min.js", _vendor("socket.io-client/dist/socket.io.esm.min.js")
    )
    app.router.add_get("/static/vendor/uPlot.iife.min.js", _vendor("uplot/dist/uPlot.iife.min.js"))
    app.router.add_get("/static/vendor/uPlot.min.css", _vendor("uplot/dist/uPlot.min.css"))
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    await migrate(services.engine)
    if isinstance(services.stores.consults, RedisConsultStore):
        # Consults stored by an earlier version are not in the per-unit and per-host sets yet.
        await services.stores.consults.index_open_consults()
    local = services.media.local if isinstance(services.media, PlacedMedia) else services.media
    if isinstance(local, WorkerPool):
        await local.start()
    yield
    await services.media.close()
    services.auth.close()


async def _connections(app: web.Application) -> AsyncIterator[None]:
    """Registered first, so it closes the Redis client and the database last: the roster, the
    node registry and the sweeps still use them on their way out, and they stopped after the
    client had been closed."""
    yield
    services = app[SERVICES]
    if services.redis is not None:
        await services.redis.aclose()
    await services.engine.dispose()


def _placement_follows_draining(
    lifecycle: NodeLifecycle, node: ClusterNode
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Once this node drains, its registry entry says so at once: no new consult is placed here."""

    async def follow() -> None:
        await lifecycle.wait_draining()
        node.registry.serving = False
        with contextlib.suppress(RedisError):  # the next round publishes it anyway
            await node.registry.tick()

    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(follow())
        yield
        await stop(task)

    return context


def _cluster(
    settings: Settings, redis: Redis, local: MediaBackend, live: Callable[[], SocketLiveRooms]
) -> ClusterNode:
    """With Redis, media goes through the node registry and each consult's placement."""

    async def moved(room_id: str, old: Placement, new: Placement, noticed_by: str | None) -> None:
        await live().media_moved(room_id, old.node_id, new.node_id, new.epoch, noticed_by)

    node_settings = NodeSettings(
        node_id=settings.node_id,
        media_address=next(iter(settings.media_host_addresses), ""),
        region=settings.region,
        heartbeat_seconds=settings.node_heartbeat_seconds,
        ttl_seconds=settings.node_ttl_seconds,
    )

    async def room_closed(room_id: str) -> None:
        await live().media_room_closed(room_id)

    return cluster_node(redis, local, node_settings, moved, room_closed)


async def _tell_clients(app: web.Application) -> None:
    """Runs before aiohttp closes open connections, so clients hear why they are dropped."""
    await app[SERVICES].signaling.shutdown()


async def _index(_: web.Request) -> web.Response:
    raise web.HTTPFound("/consola")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "time": request.app[SERVICES].clock().isoformat()})


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    path = STATIC_DIR / name

    async def serve(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    return serve


def _vendor(relative: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Serve a browser library installed by npm (never fetched from a CDN at run time)."""
    candidates = [PROJECT_DIR / "node_modules" / relative, Path.cwd() / "node_modules" / relative]

    async def serve(_: web.Request) -> web.FileResponse:
        for candidate in candidates:
            if candidate.is_file():
                return web.FileResponse(candidate, headers={"Cache-Control": "public, max-age=3600"})
        raise web.HTTPNotFound(text="Run `npm ci` to install the browser libraries.")

    return serve


async def _session_log(request: web.Request) -> web.Response:
    """The session log of a consult, for the staff member who hosted it."""
    services = request.app[SERVICES]
    member = await services.auth.require_staff(request)
    consult_id = request.match_info["consult_id"]
    consult = await services.stores.consults.get(consult_id)
    if consult is None:
        raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.")
    if consult.host_id != member.staff_id:
        raise ApiError(403, "forbidden", "No es su consulta. / Not your consult.")
    archived = await services.archive.load(consult_id)
    events = archived or await services.stores.consults.log(consult_id)
    return answer(
        SessionLogView(
            consult_id=consult_id,
            archived=bool(archived),
            events=[SessionEventView.of(e) for e in events],
        )
    )
