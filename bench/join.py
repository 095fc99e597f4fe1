"""Admission → first decoded remote frame, in real headless Chromium, for patient and nurse.

Runs the real server in this process (media in its worker processes) and one Chromium with a
fake camera. For each join, a new patient checks in, the nurse admits, and each page timestamps
the first remote video frame it presents (``requestVideoFrameCallback``) against the moment of
the admit click. Prints the median and p95 in milliseconds; ``--quick`` does 5 joins instead of
20 and, like the full run, ends with one JSON line.

    python -m bench.join [--joins 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from aiohttp import web
from playwright.async_api import Page, async_playwright

from bench.support import CHROMIUM, CHROMIUM_FLAGS
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import create_appointment_link, seed_demo

FIRST_FRAME_HOOK = """
() => {
  window.__firstFrame = new Promise((resolve) => {
    document.getElementById("remote").requestVideoFrameCallback(() => resolve(Date.now()));
  });
}
"""


ADMIT_NOW = "(selector) => { const t = Date.now(); document.querySelector(selector).click(); return t; }"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(joins: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            port=0,
            database_url=f"sqlite+aiosqlite:///{Path(data) / 'records.sqlite3'}",
            media_host_addresses=("127.0.0.1",),
            secret_key=b"benchmark-secret-key-0123456789abcdef",
            secret_key_is_ephemeral=False,
            slot_capacity=joins + 1,  # every join books the slot running now, in the demo's unit
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        services = app[SERVICES]
        demo = await seed_demo(services, base, password="bench-password-1")
        patient_ms: list[float] = []
        nurse_ms: list[float] = []
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                nurse = await (await browser.new_context()).new_page()
                await nurse.goto(demo.console_url)
                await nurse.fill("#username", demo.username)
                await nurse.fill("#password", demo.password)
                await nurse.click("#login button[type=submit]")
                await nurse.wait_for_selector("body[data-state=queue]")
                for index in range(joins):
                    consult_id, link = (
                        (demo.consult_id, demo.patient_link)
                        if index == 0
                        else await create_appointment_link(services, base, f"Paciente {index}")
                    )
                    context = await browser.new_context()
                    patient = await context.new_page()
                    await patient.goto(link)
                    await patient.check("#consent")
                    await patient.click("#enter")
                    await patient.wait_for_selector("body[data-state=waiting]")
                    row = f"#queue-rows tr[data-consult-id='{consult_id}'][data-state=waiting] button"
                    await nurse.wait_for_selector(row)
                    for page in (patient, nurse):
                        await page.evaluate(FIRST_FRAME_HOOK)
                    admitted_at: float = await nurse.evaluate(ADMIT_NOW, row)
                    patient_ms.append(await first_frame(patient) - admitted_at)
                    nurse_ms.append(await first_frame(nurse) - admitted_at)
                    await nurse.click("#end")
                    await patient.wait_for_selector("body[data-state=ended]")
                    await context.close()
                    print(
                        f"join {index + 1:2d}: patient {patient_ms[-1]:6.0f} ms, nurse {nurse_ms[-1]:6.0f} ms"
                    )
                await browser.close()
        finally:
            await runner.cleanup()
    return {
        "joins": joins,
        "patient_first_frame_median_ms": round(statistics.median(patient_ms)),
        "patient_first_frame_p95_ms": round(percentile(patient_ms, 0.95)),
        "nurse_first_frame_median_ms": round(statistics.median(nurse_ms)),
        "nurse_first_frame_p95_ms": round(percentile(nurse_ms, 0.95)),
        "media_workers": settings.media_workers,
    }


async def first_frame(page: Page) -> float:
    value: float = await asyncio.wait_for(page.evaluate("window.__firstFrame"), 30)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--joins", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 joins, under a minute")
    args = parser.parse_args()
    figures = asyncio.run(run(5 if args.quick else args.joins))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
