"""Settings from environment variables, with defaults that run everything in one process.

Every variable is documented in docs/operations.md; nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from media.ice import IceServer
from rooms.hours import ServiceHours
from rooms.interunit import DEFAULT_SPECIALTIES
from rooms.summary_links import MAX_DAYS as MAX_SUMMARY_LINK_DAYS

DEFAULT_OVERLOAD_LAG_MS = 250


class ConfigError(ValueError):
    pass


DEFAULT_SMS_BODY = '{"to": "{to}", "channel": "{channel}", "text": "{text}"}'
"""The SMS provider's request body; ``{to}``, ``{text}``, ``{channel}``, ``{key}`` filled in JSON-escaped."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    """The origin users reach (``TC_PUBLIC_URL``, e.g. ``https://tc.example.org``); every link is built
    on it. Empty: links use the address the server listens on, never a request's ``Host`` header."""
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    secret_key_is_ephemeral: bool = True
    """No ``TC_SECRET_KEY``: only ``serve --demo`` runs so (links and seals die with the process)."""
    old_secret_keys: tuple[bytes, ...] = field(default=(), repr=False)
    """``TC_OLD_SECRET_KEYS``: retired keys that still verify the record seals they made."""
    database_url: str = "sqlite+aiosqlite:///data/teleconsulta.sqlite3"
    redis_url: str = ""
    """Empty: rooms live in this process's memory. Set: shared by every node through Redis
    (``TC_REDIS_URL``, or the ``redis+sentinel://`` form built from ``TC_REDIS_SENTINELS``)."""
    redis_pool_size: int = 64
    """Connections per Redis pool of a node (the stores' and the socket.io manager's each)."""
    redis_pool_timeout_seconds: float = 1.0
    overload_lag_seconds: float = 0.0
    """Event-loop lag, sustained for a second, from which the node refuses new socket connections
    (twice this: events too) with ``busy`` (web/backpressure.py). ``TC_OVERLOAD_LAG_MS``, 250 ms
    unless set; 0 never refuses, which is what a server built in-process (tests) gets by default."""
    """How long a request waits for a free Redis connection before failing (web/redis_connection.py)."""
    browser_ice_servers: tuple[IceServer, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: bytes = field(default=b"", repr=False)
    turn_ttl_seconds: int = 900
    ice_transport_policy: str = "all"
    media_host_addresses: tuple[str, ...] = ()
    media_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Media worker processes; 0 runs media inside the main process."""
    media_forwarding: str = "packet"
    """``packet`` forwards RTP without decoding; ``reencode`` decodes and encodes per receiver."""
    session_hours: float = 12.0
    password_hash_threads: int = field(default_factory=lambda: max(1, (os.cpu_count() or 1) // 2))
    """Threads that hash and check passwords (argon2); more logins at once wait for one."""
    login_user_failures: int = 5
    login_address_failures: int = 20
    login_delay_seconds: float = 1.0
    login_max_delay_seconds: float = 300.0
    """Login throttle (web/login_throttle.py): free failures per username and per client address,
    then a wait from ``login_delay_seconds``, doubling with each failure up to the longest."""
    reconnect_grace_seconds: float = 30.0
    drain_seconds: float = 600.0
    """After ``SIGTERM``, how long the node keeps its live calls before it exits (0: exit at once)."""
    connections_per_second: float = 300.0
    """New socket connections this node admits per second (twice as many in a burst); 0: no limit."""
    log_level: str = "INFO"
    log_format: str = "text"
    """``json``: one JSON object per line (web/log_format.py); ``text``: plain lines."""
    node_id: str = field(default_factory=socket.gethostname)
    """This node's name in logs and metrics (``TC_NODE_ID``, else the host name)."""
    region: str = ""
    """This node's region in the node registry (``TC_REGION``; informative for now)."""
    node_heartbeat_seconds: float = 1.0
    node_ttl_seconds: float = 5.0
    """With Redis, each node renews its registry entry every ``node_heartbeat_seconds``
    (``TC_NODE_HEARTBEAT_SECONDS``); one not renewed for ``node_ttl_seconds`` (``TC_NODE_TTL_SECONDS``)
    is dead to every node, and its consults' media move."""
    interunit_specialties: tuple[str, ...] = DEFAULT_SPECIALTIES
    """Specialties an inter-unit session may be for (TC_INTERUNIT_SPECIALTIES, comma-separated)."""
    service_hours: ServiceHours = field(default_factory=ServiceHours.program_default)
    """When appointments can be booked and patients checked in (TC_SERVICE_HOURS, TC_SERVICE_CLOSED)."""
    service_hours_configured: bool = False
    """Whether the operator set the hours; if not, the demo opens its unit around the clock."""
    slot_minutes: int = 20
    slot_capacity: int = 1
    booking_horizon_days: int = 90
    check_in_opens_minutes: int = 15
    check_in_grace_minutes: int = 10
    check_in_grace_configured: bool = False
    """Whether the operator set the grace; if not, the demo's link works as long as its token does."""
    queue_sweep_seconds: float = 60.0
    """How often no-shows are marked and, while the service is closed, the queues closed; 0: never."""
    summary_link_days: int = 30
    """How long a patient's after-visit summary link works after the note is signed (1 to 30 days)."""
    session_log_retention_days: int = 30
    """Days after a consult ends before its chat words and unkept photos are deleted (at least 1:
    they are never kept forever; what the host kept is in the signed record)."""
    notifications: bool = True
    """Whether this node runs the outbox's dispatcher (``TC_NOTIFICATIONS``); messages are recorded anyway."""
    notify_interval_seconds: float = 15.0
    smtp_host: str = ""
    """Empty: no e-mail channel (e-mail messages stay ``unsent``, visible to staff)."""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "starttls"
    smtp_from: str = ""
    sms_url: str = ""
    """The SMS/WhatsApp provider's HTTP endpoint; empty: no SMS or WhatsApp channel."""
    sms_auth_header: str = field(default="", repr=False)
    sms_body_template: str = DEFAULT_SMS_BODY
    sms_channels: tuple[str, ...] = ("sms", "whatsapp")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or listen_url(self.host, self.port)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        defaults = cls()
        secret = env.get("TC_SECRET_KEY", "")
        if secret and len(secret) < 32:
            raise ConfigError("TC_SECRET_KEY must be at least 32 characters")
        _refuse_shared_sqlite(env, env.get("TC_DATABASE_URL", defaults.database_url))
        return cls(
            host=env.get("TC_HOST", defaults.host),
            port=_int(env, "TC_PORT", defaults.port),
            public_url=_public_url(env.get("TC_PUBLIC_URL", "")),
            secret_key=secret.encode() if secret else defaults.secret_key,
            secret_key_is_ephemeral=not secret,
            old_secret_keys=_old_secret_keys(env, secret),
            database_url=env.get("TC_DATABASE_URL", defaults.database_url),
            redis_url=_redis_url(env),
            redis_pool_size=_at_least(env, "TC_REDIS_POOL_SIZE", defaults.redis_pool_size),
            redis_pool_timeout_seconds=_delay(
                env, "TC_REDIS_POOL_TIMEOUT_SECONDS", defaults.redis_pool_timeout_seconds
            ),
            overload_lag_seconds=_overload_lag(env),
            browser_ice_servers=_ice_servers(env.get("TC_ICE_SERVERS", "")),
            turn_urls=_turn_urls(env),
            turn_secret=env.get("TC_TURN_SECRET", "").encode(),
            turn_ttl_seconds=_int(env, "TC_TURN_TTL_SECONDS", defaults.turn_ttl_seconds),
            ice_transport_policy=_policy(env.get("TC_ICE_TRANSPORT_POLICY", "all")),
            media_host_addresses=tuple(
                a.strip() for a in env.get("TC_MEDIA_HOST_ADDRESSES", "").split(",") if a.strip()
            ),
            media_workers=_int(env, "TC_MEDIA_WORKERS", defaults.media_workers),
            media_forwarding=_choice(
                env, "TC_MEDIA_FORWARDING", defaults.media_forwarding, ("packet", "reencode")
            ),
            session_hours=float(env.get("TC_SESSION_HOURS", defaults.session_hours)),
            password_hash_threads=_at_least(env, "TC_PASSWORD_HASH_THREADS", defaults.password_hash_threads),
            login_user_failures=_at_least(env, "TC_LOGIN_USER_FAILURES", defaults.login_user_failures),
            login_address_failures=_at_least(
                env, "TC_LOGIN_ADDRESS_FAILURES", defaults.login_address_failures
            ),
            login_delay_seconds=_delay(env, "TC_LOGIN_DELAY_SECONDS", defaults.login_delay_seconds),
            login_max_delay_seconds=_delay(
                env, "TC_LOGIN_MAX_DELAY_SECONDS", defaults.login_max_delay_seconds
            ),
            reconnect_grace_seconds=float(
                env.get("TC_RECONNECT_GRACE_SECONDS", defaults.reconnect_grace_seconds)
            ),
            drain_seconds=_seconds(env, "TC_DRAIN_SECONDS", defaults.drain_seconds),
            connections_per_second=_seconds(
                env, "TC_CONNECTIONS_PER_SECOND", defaults.connections_per_second
            ),
            log_level=env.get("TC_LOG_LEVEL", defaults.log_level).upper(),
            log_format=_choice(env, "TC_LOG_FORMAT", defaults.log_format, ("text", "json")),
            node_id=env.get("TC_NODE_ID", "").strip() or defaults.node_id,
            region=env.get("TC_REGION", "").strip(),
            node_heartbeat_seconds=_delay(env, "TC_NODE_HEARTBEAT_SECONDS", defaults.node_heartbeat_seconds),
            node_ttl_seconds=_delay(env, "TC_NODE_TTL_SECONDS", defaults.node_ttl_seconds),
            interunit_specialties=_specialties(env.get("TC_INTERUNIT_SPECIALTIES", "")),
            service_hours=_service_hours(env),
            service_hours_configured=bool(env.get("TC_SERVICE_HOURS") or env.get("TC_SERVICE_CLOSED")),
            slot_minutes=_int(env, "TC_SLOT_MINUTES", defaults.slot_minutes),
            slot_capacity=_int(env, "TC_SLOT_CAPACITY", defaults.slot_capacity),
            booking_horizon_days=_int(env, "TC_BOOKING_HORIZON_DAYS", defaults.booking_horizon_days),
            check_in_opens_minutes=_int(env, "TC_CHECK_IN_OPENS_MINUTES", defaults.check_in_opens_minutes),
            check_in_grace_minutes=_int(env, "TC_CHECK_IN_GRACE_MINUTES", defaults.check_in_grace_minutes),
            check_in_grace_configured=bool(env.get("TC_CHECK_IN_GRACE_MINUTES")),
            queue_sweep_seconds=_seconds(env, "TC_QUEUE_SWEEP_SECONDS", defaults.queue_sweep_seconds),
            summary_link_days=_summary_link_days(env, defaults.summary_link_days),
            session_log_retention_days=_at_least(
                env, "TC_SESSION_LOG_RETENTION_DAYS", defaults.session_log_retention_days
            ),
            notifications=_choice(env, "TC_NOTIFICATIONS", "on", ("on", "off")) == "on",
            notify_interval_seconds=_delay(
                env, "TC_NOTIFY_INTERVAL_SECONDS", defaults.notify_interval_seconds
            ),
            smtp_host=env.get("TC_SMTP_HOST", "").strip(),
            smtp_port=_int(env, "TC_SMTP_PORT", defaults.smtp_port),
            smtp_user=env.get("TC_SMTP_USER", ""),
            smtp_password=env.get("TC_SMTP_PASSWORD", ""),
            smtp_security=_choice(env, "TC_SMTP_TLS", defaults.smtp_security, ("starttls", "tls", "none")),
            smtp_from=_smtp_from(env),
            sms_url=_sms_url(env),
            sms_auth_header=_sms_auth_header(env),
            sms_body_template=env.get("TC_SMS_BODY_TEMPLATE", "").strip() or DEFAULT_SMS_BODY,
            sms_channels=_sms_channels(env),
        )


def _smtp_from(env: Mapping[str, str]) -> str:
    """``TC_SMTP_FROM``: the sender's address, needed once ``TC_SMTP_HOST`` is set."""
    sender = env.get("TC_SMTP_FROM", "").strip()
    if env.get("TC_SMTP_HOST", "").strip() and "@" not in sender:
        raise ConfigError("TC_SMTP_HOST needs TC_SMTP_FROM, the sender's e-mail address")
    return sender


def _sms_url(env: Mapping[str, str]) -> str:
    url = env.get("TC_SMS_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError("TC_SMS_URL must be an http:// or https:// URL")
    return url


def _sms_auth_header(env: Mapping[str, str]) -> str:
    header = env.get("TC_SMS_AUTH_HEADER", "").strip()
    if header and ":" not in header:
        raise ConfigError("TC_SMS_AUTH_HEADER must read 'Name: value', e.g. 'Authorization: Bearer …'")
    return header


def _sms_channels(env: Mapping[str, str]) -> tuple[str, ...]:
    """``TC_SMS_CHANNELS``: which of ``sms`` and ``whatsapp`` the HTTP provider carries."""
    channels = tuple(c.strip() for c in env.get("TC_SMS_CHANNELS", "sms,whatsapp").split(",") if c.strip())
    if not channels or any(c not in ("sms", "whatsapp") for c in channels):
        raise ConfigError("TC_SMS_CHANNELS must list sms and/or whatsapp")
    return channels


SHARED_SQLITE_REFUSAL = (
    "TC_REDIS_URL (or TC_REDIS_SENTINELS) is set (several nodes share one service) but "
    "TC_DATABASE_URL is a SQLite file. "
    "Every node would write its own file, or share one over a network file system, where SQLite's "
    "locks do not hold: staff accounts, notes and audit events would differ between nodes or be "
    "corrupted. Use PostgreSQL (TC_DATABASE_URL=postgresql+asyncpg://...). If this really is one "
    "node with a local Redis, set TC_ALLOW_SQLITE_WITH_REDIS=1. / TC_REDIS_URL está definida (varios "
    "nodos) pero TC_DATABASE_URL es un archivo SQLite: use PostgreSQL, o TC_ALLOW_SQLITE_WITH_REDIS=1 "
    "si de verdad es un solo nodo."
)


def _refuse_shared_sqlite(env: Mapping[str, str], database_url: str) -> None:
    """Redis means several nodes; a SQLite record file cannot be shared by them (unless overridden)."""
    if (
        (env.get("TC_REDIS_URL") or env.get("TC_REDIS_SENTINELS"))
        and database_url.startswith("sqlite")
        and env.get("TC_ALLOW_SQLITE_WITH_REDIS", "") != "1"
    ):
        raise ConfigError(SHARED_SQLITE_REFUSAL)


def listen_url(host: str, port: int) -> str:
    """``http://host:port`` for a listen address (IPv6 in brackets)."""
    try:
        bracketed = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        bracketed = host  # a host name
    return f"http://{bracketed}:{port}"


def _redis_url(env: Mapping[str, str]) -> str:
    """``TC_REDIS_URL``, or, for a highly available Redis, ``TC_REDIS_SENTINELS`` (``host:port,…``)
    with ``TC_REDIS_SENTINEL_MASTER`` (the name the sentinels monitor) as a ``redis+sentinel://``
    URL, the form both our stores and python-socketio's manager read."""
    url = env.get("TC_REDIS_URL", "").strip()
    sentinels = [s.strip() for s in env.get("TC_REDIS_SENTINELS", "").split(",") if s.strip()]
    master = env.get("TC_REDIS_SENTINEL_MASTER", "").strip()
    if not sentinels:
        if master:
            raise ConfigError("TC_REDIS_SENTINEL_MASTER needs TC_REDIS_SENTINELS")
        return url
    if url:
        raise ConfigError("set TC_REDIS_URL or TC_REDIS_SENTINELS, not both")
    if not master or not all(c.isalnum() or c in "-_." for c in master):
        raise ConfigError("TC_REDIS_SENTINELS needs TC_REDIS_SENTINEL_MASTER (the monitored master's name)")
    for sentinel in sentinels:
        host, _, port = sentinel.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in "/@,"):
            raise ConfigError("TC_REDIS_SENTINELS must be host:port pairs separated by commas")
    return f"redis+sentinel://{','.join(sentinels)}/0/{master}"


def _overload_lag(env: Mapping[str, str]) -> float:
    """``TC_OVERLOAD_LAG_MS``: whole milliseconds, 0 (never refuse) to 10,000."""
    lag = _int(env, "TC_OVERLOAD_LAG_MS", DEFAULT_OVERLOAD_LAG_MS)
    if not 0 <= lag <= 10_000:
        raise ConfigError("TC_OVERLOAD_LAG_MS must be between 0 and 10000 milliseconds")
    return lag / 1000


def _public_url(text: str) -> str:
    """``TC_PUBLIC_URL``: an http(s) origin; pages live at the root, so no path, query or user."""
    text = text.strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError("TC_PUBLIC_URL must be a URL such as https://tc.example.org") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            "TC_PUBLIC_URL must be an http:// or https:// origin without a path, such as https://tc.example.org"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _old_secret_keys(env: Mapping[str, str], current: str) -> tuple[bytes, ...]:
    """``TC_OLD_SECRET_KEYS``: comma-separated retired keys; they verify record seals, never sign."""
    keys = [key.strip() for key in env.get("TC_OLD_SECRET_KEYS", "").split(",") if key.strip()]
    if keys and not current:
        raise ConfigError("TC_OLD_SECRET_KEYS needs TC_SECRET_KEY (the current key)")
    if any(len(key) < 32 for key in keys):
        raise ConfigError("each key in TC_OLD_SECRET_KEYS must be at least 32 characters")
    return tuple(dict.fromkeys(key.encode() for key in keys if key != current))


def _service_hours(env: Mapping[str, str]) -> ServiceHours:
    """``TC_SERVICE_HOURS``: JSON as in ServiceHours.from_config; ``TC_SERVICE_CLOSED``: closed dates."""
    text = env.get("TC_SERVICE_HOURS", "").strip()
    closed = [d.strip() for d in env.get("TC_SERVICE_CLOSED", "").split(",") if d.strip()]
    if not text and not closed:
        return ServiceHours.program_default()
    try:
        if text:
            config = json.loads(text)
            if not isinstance(config, dict):
                raise ValueError("TC_SERVICE_HOURS must be a JSON object")
        else:
            default = ServiceHours.program_default()
            config = {
                "weekly": {
                    day: [str(w) for w in default.weekly[i]]
                    for i, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
                }
            }
        config["closed"] = [*config.get("closed", []), *closed]
        return ServiceHours.from_config(config)
    except ValueError as error:
        raise ConfigError(f"TC_SERVICE_HOURS / TC_SERVICE_CLOSED: {error}") from None


def _summary_link_days(env: Mapping[str, str], default: int) -> int:
    """``TC_SUMMARY_LINK_DAYS``: at most 30, as a revocation is kept 30 days and must outlive its link."""
    days = _int(env, "TC_SUMMARY_LINK_DAYS", default)
    if not 1 <= days <= MAX_SUMMARY_LINK_DAYS:
        raise ConfigError(f"TC_SUMMARY_LINK_DAYS must be between 1 and {MAX_SUMMARY_LINK_DAYS} days")
    return days


def _specialties(text: str) -> tuple[str, ...]:
    """``TC_INTERUNIT_SPECIALTIES``: comma-separated names; empty keeps the default list."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if any(len(name) > 80 or any(c in name for c in "<>") for name in names):
        raise ConfigError("TC_INTERUNIT_SPECIALTIES entries must be names of at most 80 characters")
    return names or DEFAULT_SPECIALTIES


def _turn_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in env.get("TC_TURN_URLS", "").split(",") if u.strip())
    if urls and not env.get("TC_TURN_SECRET"):
        raise ConfigError("TC_TURN_URLS needs TC_TURN_SECRET (coturn's static-auth-secret)")
    if any(not u.startswith(("turn:", "turns:")) for u in urls):
        raise ConfigError("TC_TURN_URLS entries must start with turn: or turns:")
    return urls


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _policy(value: str) -> str:
    if value not in ("all", "relay"):
        raise ConfigError("TC_ICE_TRANSPORT_POLICY must be 'all' or 'relay'")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if not 0 <= value < 86400:
        raise ConfigError(f"{name} must be between 0 and 86400 seconds")
    return value


def _delay(env: Mapping[str, str], name: str, default: float) -> float:
    value = _seconds(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


def _at_least(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None


def _ice_servers(text: str) -> tuple[IceServer, ...]:
    """``TC_ICE_SERVERS`` is a JSON list in the browser's ``RTCIceServer`` shape."""
    if not text.strip():
        return ()
    try:
        entries = json.loads(text)
        servers = []
        for entry in entries:
            urls = entry["urls"]
            servers.append(
                IceServer(
                    urls=(urls,) if isinstance(urls, str) else tuple(str(u) for u in urls),
                    username=entry.get("username"),
                    credential=entry.get("credential"),
                )
            )
        return tuple(servers)
    except (ValueError, KeyError, TypeError):
        raise ConfigError("TC_ICE_SERVERS must be a JSON list of {urls, username?, credential?}") from None
