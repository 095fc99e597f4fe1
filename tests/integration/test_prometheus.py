"""A real Prometheus (Debian's ``prometheus`` package) scrapes the server through a real consult.

Prometheus runs on loopback with a temporary configuration and store, scraping ``/metrics`` every
second and loading the repository's alert rules; the test waits (with a deadline) until its HTTP
API reports forwarded RTP packets and an open room, then evaluates every expression of the Grafana
dashboard there. ``promtool`` (same package) checks and unit-tests the alert rules.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import Harness
from tests.support.metrics import scrape
from tests.support.services import ROOT, require_or_skip
from tests.support.whole_consult import whole_consult

ALERTS = ROOT / "deploy/prometheus/alerts.yml"
ALERT_TESTS = ROOT / "deploy/prometheus/alerts_test.yml"
DASHBOARD = ROOT / "deploy/grafana/teleconsulta.json"


def _tool(name: str) -> str:
    path = shutil.which(name)
    require_or_skip(path is not None, f"{name} (Debian package prometheus)")
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def prometheus(directory: Path, target: str) -> Iterator[str]:
    """Run Prometheus scraping ``target`` (host:port) every second; yield its URL once ready."""
    binary = _tool("prometheus")
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(ALERTS))}]\n"
        "scrape_configs:\n"
        "  - job_name: teleconsulta\n"
        f"    static_configs: [{{targets: [{json.dumps(target)}]}}]\n",
        encoding="utf-8",
    )
    address = f"127.0.0.1:{_free_port()}"
    log = (directory / "prometheus.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={address}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://{address}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("prometheus did not start:\n" + (directory / "prometheus.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _query(http: aiohttp.ClientSession, url: str, expression: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}/api/v1/query", params={"query": expression}) as response:
        answer = await response.json()
    assert answer["status"] == "success", (expression, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


async def _value(http: aiohttp.ClientSession, url: str, expression: str) -> float:
    result = await _query(http, url, expression)
    return float(result[0]["value"][1]) if result else 0.0


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_promtool_checks_and_tests_the_alert_rules() -> None:
    promtool = _tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


async def test_a_real_prometheus_sees_a_consult(harness: Harness, tmp_path: Path) -> None:
    target = harness.url.removeprefix("http://")
    cookie = await harness.login()
    with prometheus(tmp_path, target) as url:
        async with aiohttp.ClientSession() as http:
            seen: dict[str, float] = {}

            async def in_call() -> None:
                deadline = time.monotonic() + 60
                while True:
                    seen["packets"] = await _value(http, url, "sum(tc_rtp_packets_total)")
                    seen["rooms"] = await _value(http, url, "sum(tc_media_rooms)")
                    if seen["packets"] > 0 and seen["rooms"] > 0:
                        return
                    assert time.monotonic() < deadline, f"Prometheus never saw the call: {seen}"
                    await asyncio.sleep(0.5)

            await whole_consult(
                harness.url,
                consult_id=harness.consult_id,
                patient_token=harness.patient_token,
                nurse_cookie=cookie,
                in_call=in_call,
            )
            assert seen["rooms"] == 1

            # Prometheus scraped a healthy target and loaded the alert rules without error.
            targets = await _query(http, url, 'up{job="teleconsulta"}')
            assert [float(t["value"][1]) for t in targets] == [1.0]
            async with http.get(f"{url}/api/v1/rules") as response:
                groups = (await response.json())["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            assert rules and all(rule["health"] != "err" for rule in rules), rules
            # Every dashboard expression is valid PromQL here.
            for expression in _dashboard_expressions():
                await _query(http, url, expression)

    # ... and names only metrics the server declares.
    declared = (await scrape(harness.url)).families()
    names = {
        suffix for name in declared for suffix in (name, f"{name}_bucket", f"{name}_count", f"{name}_sum")
    }
    used = set(re.findall(r"\b(?:tc|process)_[a-z_]+", DASHBOARD.read_text() + ALERTS.read_text()))
    assert used and used <= names, f"unknown metrics: {sorted(used - names)}"
