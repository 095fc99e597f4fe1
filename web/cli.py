"""The ``teleconsulta`` command: ``teleconsulta serve [--demo]``.

Runs the server until SIGINT or SIGTERM, then closes connections and peers before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from web.app import SERVICES, create_app
from web.config import ConfigError, Settings
from web.demo import seed_demo
from web.logs import PathOnlyAccessLogger, configure


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
    if args.host:
        settings = replace(settings, host=args.host)
    if args.port is not None:
        settings = replace(settings, port=args.port)
    configure(settings.log_level)
    try:
        asyncio.run(_serve(settings, demo=args.demo))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(settings: Settings, *, demo: bool) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=PathOnlyAccessLogger, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, shutdown_timeout=3.0)
    await site.start()
    port = runner.addresses[0][1]
    base_url = settings.public_url.rstrip("/") or f"http://{settings.host}:{port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"Teleconsulta escuchando en / listening on {base_url}", flush=True)
    if settings.secret_key_is_ephemeral:
        print(
            "Aviso / Warning: TC_SECRET_KEY is not set; links stop working when the server restarts.",
            flush=True,
        )
    if demo:
        access = await seed_demo(app[SERVICES], base_url, os.environ.get("TC_DEMO_PASSWORD"))
        print(
            "\nDemo lista / Demo ready\n"
            f"  Consola de enfermería / Nurse console: {access.console_url}\n"
            f"  Usuario / User: {access.username}\n"
            f"  Contraseña / Password: {access.password}\n"
            f"  Enlace del paciente / Patient link: {access.patient_link}\n",
            flush=True,
        )
    try:
        await stop.wait()
    finally:
        print("Cerrando / Shutting down…", flush=True)
        await asyncio.wait_for(runner.cleanup(), timeout=10)
