"""The server's Prometheus metrics: one registry per app, every metric named and bounded here.

Labels come only from fixed sets: route templates (never a path with ids), event names the socket
server handles, error codes, unit codes, worker numbers, a few outcome words. Nothing that names
a consult, a participant or a person is ever a label or a value, so scraping ``/metrics`` tells
how the service runs and nothing about who uses it (``tests/integration/test_metrics.py`` checks
it after a real consult). docs/operations.md lists the metrics.

Media figures come in two ways. What worker processes forward is counted there in plain integers
and reported up each worker's pipe every second (:mod:`media.census`); :class:`_MediaCollector`
turns the latest reports into metric families labelled by worker at scrape time. What the main
process sees pass (quality samples, paused video) is observed as it passes.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Callable, Iterator
from dataclasses import replace

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from media.backend import MediaBackend, MediaEvent, MediaEventKind
from media.census import MediaCensus, TakesCensus
from media.workers import WorkerPool

LABEL_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,48}")
MAX_UNITS = 200
"""Units are a short list of unit codes; past this many, further ones count as ``other``."""
GC_PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SIGNING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOSS_BUCKETS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)
JITTER_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.06, 0.1, 0.25, 0.5)
RTT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
LOGIN_ROUTE = ("POST", "/api/session")
SIGN_ROUTE = ("POST", "/api/notes/{note_id}/sign")
LOGIN_OUTCOMES = {200: "success", 401: "failure", 429: "throttled"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def bounded(value: str) -> str:
    """A label value from a fixed set as it is, anything odd (too long, strange characters) as ``other``."""
    return value if LABEL_TEXT.fullmatch(value) else "other"


class Metrics:
    """Every metric of one app. Its methods are what the parts of the server observe."""

    def __init__(self, node: str) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # a ``_created`` twin per counter: noise
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        Gauge("tc_node_info", "This node (TC_NODE_ID or the host name).", ["node"], registry=r).labels(
            bounded(node)
        ).set(1)
        self._connections = Gauge("tc_socketio_connections", "Open socket.io connections.", registry=r)
        self._connects = Counter("tc_socketio_connects", "socket.io connections accepted.", registry=r)
        self._events = Counter(
            "tc_socketio_events", "Client events received, by event name.", ["event"], registry=r
        )
        self._refusals = Counter(
            "tc_refusals",
            "Refused socket events, connections and HTTP requests, by error code.",
            ["channel", "code"],
            registry=r,
        )
        self._reconnections = Counter(
            "tc_reconnections", "Participants who dropped out of a call and came back in time.", registry=r
        )
        self._http = Counter(
            "tc_http_requests",
            "HTTP requests, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self._logins = Counter(
            "tc_logins",
            "Staff sign-ins: success, failure (wrong password), throttled.",
            ["outcome"],
            registry=r,
        )
        self._signing = Histogram(
            "tc_note_signing_seconds",
            "Time to sign a clinical note (successful signings).",
            buckets=SIGNING_BUCKETS,
            registry=r,
        )
        self._database = Histogram(
            "tc_db_query_seconds",
            "Database statement time, by kind of statement.",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self._redis = Histogram(
            "tc_redis_command_seconds",
            "Redis command time, by command.",
            ["command"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self._loop_lag = Histogram(
            "tc_event_loop_lag_seconds",
            "How late the main process's event loop wakes up.",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.last_loop_lag = 0.0
        self._gc_pause = Histogram(
            "tc_gc_pause_seconds",
            "How long each garbage collection of the main process paused it, by generation.",
            ["generation"],
            buckets=GC_PAUSE_BUCKETS,
            registry=r,
        )
        self._queue_length = Gauge(
            "tc_unit_queue_length", "Patients waiting in a unit's queue.", ["unit"], registry=r
        )
        self._queue_wait = Gauge(
            "tc_unit_queue_longest_wait_seconds",
            "How long the longest-waiting patient of a unit's queue has waited.",
            ["unit"],
            registry=r,
        )
        self._units: set[str] = set()
        self._loss = Histogram(
            "tc_media_loss_ratio",
            "Packet loss per quality sample (the worse direction, receiver reports included).",
            buckets=LOSS_BUCKETS,
            registry=r,
        )
        self._jitter = Histogram(
            "tc_media_jitter_seconds", "Jitter per quality sample.", buckets=JITTER_BUCKETS, registry=r
        )
        self._rtt = Histogram(
            "tc_media_rtt_seconds",
            "Round-trip time from receiver reports, per quality sample.",
            buckets=RTT_BUCKETS,
            registry=r,
        )
        self._video_paused = Counter(
            "tc_media_video_paused", "Times video to a participant was paused for a bad link.", registry=r
        )
        self._media_failures = Counter(
            "tc_media_connection_failures",
            "Media connections that failed (the page reconnects).",
            registry=r,
        )
        self._notifications = Counter(
            "tc_notifications",
            "Patient messages handled by the dispatcher, by channel, kind and outcome "
            "(sent, retried, failed, unsent, withdrawn).",
            ["channel", "kind", "outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def watch(self, media: MediaBackend, connections: Callable[[], int]) -> None:
        """Read the media census and the open connection count at each scrape."""
        self._connections.set_function(lambda: float(connections()))
        self.registry.register(_MediaCollector(media, lambda: self.last_loop_lag))

    # -- signaling (signaling.observer.SignalingObserver) ---------------------------------------

    def connected(self) -> None:
        self._connects.inc()

    def event(self, name: str) -> None:
        self._events.labels(bounded(name)).inc()

    def refused(self, code: str, channel: str = "socket") -> None:
        self._refusals.labels(channel, bounded(code)).inc()

    def reconnected(self) -> None:
        self._reconnections.inc()

    # -- HTTP ---------------------------------------------------------------------------------

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else "other"
        self._http.labels(method, route, str(status)).inc()
        if (method, route) == LOGIN_ROUTE:
            self._logins.labels(LOGIN_OUTCOMES.get(status, "refused")).inc()
        elif (method, route) == SIGN_ROUTE and 200 <= status < 300:
            self._signing.observe(seconds)

    # -- stores and the event loop ----------------------------------------------------------------

    def database_query(self, operation: str, seconds: float) -> None:
        self._database.labels(operation).observe(seconds)

    def redis_command(self, command: str, seconds: float) -> None:
        self._redis.labels(bounded(command)).observe(seconds)

    def loop_lag(self, seconds: float) -> None:
        self.last_loop_lag = seconds
        self._loop_lag.observe(seconds)

    def gc_pause(self, seconds: float, generation: int) -> None:
        self._gc_pause.labels(str(generation)).observe(seconds)

    def queue(self, unit: str, length: int, longest_wait_seconds: float) -> None:
        label = bounded(unit)
        if label not in self._units:
            if len(self._units) >= MAX_UNITS:
                label = "other"
            self._units.add(label)
        self._queue_length.labels(label).set(length)
        self._queue_wait.labels(label).set(longest_wait_seconds)

    # -- the outbox's dispatcher (notifications.dispatcher.Observer) --------------------------------

    def notification(self, channel: str, kind: str, outcome: str) -> None:
        self._notifications.labels(bounded(channel), bounded(kind), bounded(outcome)).inc()

    # -- media events the main process passes on ------------------------------------------------

    def media_event(self, event: MediaEvent) -> None:
        data = event.data
        if event.kind is MediaEventKind.QUALITY:
            loss, jitter, rtt = data.get("loss_pct"), data.get("jitter_ms"), data.get("rtt_ms")
            if isinstance(loss, int | float):
                self._loss.observe(loss / 100.0)
            if isinstance(jitter, int | float):
                self._jitter.observe(jitter / 1000.0)
            if isinstance(rtt, int | float):
                self._rtt.observe(rtt / 1000.0)
        elif event.kind is MediaEventKind.VIDEO_PAUSED and data.get("paused") is True:
            self._video_paused.inc()
        elif event.kind is MediaEventKind.CONNECTION and data.get("state") == "failed":
            self._media_failures.inc()


class _MediaCollector(Collector):
    """Media figures at scrape time: each worker's latest census, or the in-process backend's."""

    def __init__(self, media: MediaBackend, main_loop_lag: Callable[[], float]) -> None:
        self._media = media
        self._main_loop_lag = main_loop_lag

    def _censuses(self) -> tuple[int, dict[str, MediaCensus]]:
        """Live media processes and the census of each, by worker label."""
        if isinstance(self._media, WorkerPool):
            return self._media.alive(), {str(i): c for i, c in self._media.census().items()}
        if isinstance(self._media, TakesCensus):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            main = replace(
                self._media.census(),
                cpu_seconds=usage.ru_utime + usage.ru_stime,
                loop_lag_seconds=self._main_loop_lag(),
            )
            return 1, {"main": main}
        return 1, {}

    def collect(self) -> Iterator[Metric]:
        alive, censuses = self._censuses()
        yield GaugeMetricFamily(
            "tc_media_workers_alive",
            "Media processes running (the main process when media is in-process).",
            value=alive,
        )

        def gauge(name: str, text: str, value: Callable[[MediaCensus], float]) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, text, labels=["worker"])
            for worker, census in censuses.items():
                family.add_metric([worker], value(census))
            return family

        def counter(
            name: str, text: str, label: str, values: dict[str, Callable[[MediaCensus], float]]
        ) -> CounterMetricFamily:
            family = CounterMetricFamily(name, text, labels=["worker", label] if label else ["worker"])
            for worker, census in censuses.items():
                for key, value in values.items():
                    family.add_metric([worker, key] if label else [worker], value(census))
            return family

        yield gauge("tc_media_rooms", "Rooms with media.", lambda c: c.rooms)
        yield gauge("tc_media_participants", "Participants with media.", lambda c: c.participants)
        yield gauge("tc_media_publishers", "Participants publishing media.", lambda c: c.publishers)
        yield gauge(
            "tc_media_subscriptions",
            "Forwarded track copies (one per subscriber and track).",
            lambda c: c.subscriptions,
        )
        yield gauge(
            "tc_media_worker_loop_lag_seconds",
            "How late the media process's loop last woke up.",
            lambda c: c.loop_lag_seconds,
        )
        yield counter(
            "tc_media_worker_cpu_seconds",
            "CPU time of the media process.",
            "",
            {"": lambda c: c.cpu_seconds},
        )
        yield counter(
            "tc_rtp_packets",
            "RTP packets received from publishers (in) and forwarded (out).",
            "direction",
            {"in": lambda c: c.traffic.packets_in, "out": lambda c: c.traffic.packets_out},
        )
        yield counter(
            "tc_rtp_payload_bytes_received",
            "RTP payload bytes received from publishers.",
            "",
            {"": lambda c: c.traffic.payload_bytes_in},
        )
        yield counter(
            "tc_rtp_bytes_sent",
            "RTP bytes (headers included) forwarded to subscribers.",
            "",
            {"": lambda c: c.traffic.bytes_out},
        )
        yield counter(
            "tc_rtp_nacks",
            "NACKs sent to publishers and received from subscribers.",
            "direction",
            {"sent": lambda c: c.traffic.nacks_sent, "received": lambda c: c.traffic.nacks_received},
        )
        yield counter(
            "tc_rtp_retransmissions",
            "Packets resent to subscribers from the cache.",
            "",
            {"": lambda c: c.traffic.retransmissions},
        )
        yield counter(
            "tc_rtp_keyframe_requests",
            "Keyframe requests: PLIs sent to publishers, PLIs/FIRs received from subscribers.",
            "direction",
            {
                "sent": lambda c: c.traffic.keyframe_requests_sent,
                "received": lambda c: c.traffic.keyframe_requests_received,
            },
        )
        yield counter(
            "tc_rtp_keyframe_waits",
            "Subscriber streams (re)started at a keyframe after waiting.",
            "",
            {"": lambda c: c.traffic.keyframe_waits},
        )
        yield counter(
            "tc_rtp_packets_dropped",
            "Packets not forwarded, by reason.",
            "reason",
            {
                "waiting_for_keyframe": lambda c: c.traffic.dropped_waiting_for_keyframe,
                "invalid": lambda c: c.traffic.dropped_invalid,
                "duplicate": lambda c: c.traffic.dropped_duplicate,
                "send_error": lambda c: c.traffic.send_errors,
            },
        )
        yield counter(
            "tc_rtp_losses",
            "Upstream gaps, recovered by retransmission or not (keyframe asked).",
            "outcome",
            {
                "recovered": lambda c: c.traffic.losses_recovered,
                "unrecovered": lambda c: c.traffic.losses_unrecovered,
            },
        )
