"""The ``teleconsulta`` command: ``teleconsulta serve [--demo]``.

Runs the server until SIGINT or SIGTERM, then closes connections and peers before exiting. SIGTERM
drains first (``web/lifecycle.py``): not ready, no new consults, live calls kept until they end or
``TC_DRAIN_SECONDS``; SIGINT or a second SIGTERM stops at once. Only
``--demo`` runs without ``TC_SECRET_KEY``: with a key made up at start, every patient link dies with
a restart and the seals on signed notes can never be verified again, which a real service must not
find out after the fact.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from aiohttp import web

from web.app import SERVICES, create_app
from web.config import ConfigError, Settings, listen_url
from web.demo import seed_demo
from web.lifecycle import drain
from web.logs import PathOnlyAccessLogger, configure
from web.runtime import run, settle_after_start, tune_gc

NO_KEY_REFUSAL = (
    "teleconsulta: falta TC_SECRET_KEY. Sin una clave fija, los enlaces de los pacientes dejan de "
    "funcionar al reiniciar y los sellos de las notas firmadas ya no se pueden verificar. Defina "
    "TC_SECRET_KEY (al menos 32 caracteres; p. ej. la salida de "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`) o use `serve --demo` para probar.\n"
    "teleconsulta: TC_SECRET_KEY is not set. Without a fixed key, patient links stop working after a "
    "restart and the seals on signed notes can no longer be verified. Set TC_SECRET_KEY (at least 32 "
    "characters, e.g. the output of the command above) or use `serve --demo` to try it out."
)


LISTEN_BACKLOG = 2048
"""Connections the kernel queues for accepting (aiohttp's default is 128). Thousands of pages
reconnecting at once after a restart overflowed 128 while the loop was busy, and each dropped SYN
costs its client a retransmission wait of 1, 3, 7 then 15 s; the kernel caps it at somaxconn."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="teleconsulta", description="Teleconsulta video consultation server"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (TC_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on, 0 for any free port (TC_PORT)")
    serve.add_argument("--demo", action="store_true", help="create a demo nurse and an appointment for now")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"teleconsulta: {error}", file=sys.stderr)
        return 2
    if settings.secret_key_is_ephemeral and not args.demo:
        print(NO_KEY_REFUSAL, file=sys.stderr)
        return 2
    if args.host:
        settings = replace(settings, host=args.host)
    if args.port is not None:
        settings = replace(settings, port=args.port)
    configure(settings.log_level, settings.log_format, settings.node_id)
    tune_gc()
    try:
        run(_serve(settings, demo=args.demo))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(settings: Settings, *, demo: bool) -> None:
    app = create_app(settings)
    # At the final stop (SIGINT, or after a drain) a request still running gets a second to finish.
    runner = web.AppRunner(
        app, access_log_class=PathOnlyAccessLogger, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    settle_after_start()  # before listening: no request waits for this one full collection
    site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
    await site.start()
    port = runner.addresses[0][1]
    base_url = settings.public_url or listen_url(settings.host, port)
    services = app[SERVICES]
    stop, terminate = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def on_sigterm() -> None:
        (stop if terminate.is_set() else terminate).set()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    print(f"Teleconsulta escuchando en / listening on {base_url}", flush=True)
    if settings.secret_key_is_ephemeral:
        print(
            "Aviso / Warning: TC_SECRET_KEY no está definida / is not set (demo): "
            "los enlaces dejan de funcionar al reiniciar / links stop working when the server restarts.",
            flush=True,
        )
    if not settings.public_url and not demo:
        print(
            "Aviso / Warning: TC_PUBLIC_URL no está definida / is not set: los enlaces usan la dirección "
            "en la que escucha el servidor / links use the address the server listens on.",
            flush=True,
        )
    if demo:
        access = await seed_demo(services, base_url, os.environ.get("TC_DEMO_PASSWORD"))
        print(
            "\nDemo lista / Demo ready\n"
            f"  Consola de enfermería / Nurse console: {access.console_url}\n"
            f"  Usuario / User: {access.username}\n"
            f"  Contraseña / Password: {access.password}\n"
            f"  Enlace del paciente / Patient link: {access.patient_link}\n"
            f"  El enlace funciona hasta / The link works until: {_local_time(access.link_works_until)}\n",
            flush=True,
        )
    try:
        await asyncio.wait(
            [loop.create_task(stop.wait()), loop.create_task(terminate.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if terminate.is_set() and not stop.is_set():
            print("Drenando / Draining…", flush=True)
            await drain(services.lifecycle, services.live_calls, seconds=settings.drain_seconds, stop=stop)
    finally:
        print("Cerrando / Shutting down…", flush=True)
        await asyncio.wait_for(runner.cleanup(), timeout=10)


def _local_time(instant: datetime) -> str:
    """An instant as this machine's clock shows it, with its offset (the operator reads it here)."""
    return instant.astimezone().strftime("%Y-%m-%d %H:%M (UTC%z)")
