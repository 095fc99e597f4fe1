"""Whatever a test does, the suite ends; and the suite runs in parts (``--part``), so that the
tests that time a weak link need not share the machine with other browsers.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too long by raising in it; a
test whose teardown then hangs (a fixture awaiting a peer that is gone) would still hold its worker
for ever. So every test also has a hard limit a minute later: past it, the processes the test
started (servers, browsers, network namespaces' commands) are killed, the stacks are printed, and the
worker exits; pytest-xdist reports the test as crashed and goes on with a new worker.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.relay.cpu import descendants

GRACE_AFTER_TIMEOUT_SECONDS = 60.0


def _give_up(nodeid: str, limit: float) -> None:
    sys.stderr.write(f"\n{nodeid}: still running {limit:.0f} s after it started; ending this worker\n")
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    for pid in descendants(os.getpid())[1:]:  # every process below this worker
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timeout = float(item.config.getini("timeout") or 0)
    if timeout <= 0:
        yield
        return
    limit = timeout + GRACE_AFTER_TIMEOUT_SECONDS
    watchdog = threading.Timer(limit, _give_up, (item.nodeid, limit))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


LINK_TIMING = "link_timing"
BROWSER = "browser"
E2E = Path(__file__).parent / "e2e"
PARTS = {
    "all": "every test",
    "link-timing": "the weak-link tests (marker link_timing): a browser on a degraded link, judged over time",
    "browsers": "the other tests that drive Chromium (tests/e2e, marker browser)",
    "rest": "the tests that drive no browser",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=tuple(PARTS),
        default="all",
        help="run one part of the suite: "
        + "; ".join(f"{name}: {what}" for name, what in PARTS.items())
        + ". scripts/test.sh runs the weak-link tests beside the rest (niced, so they take the CPU "
        "the weak-link tests leave), then the browsers.",
    )


def _part_of(item: pytest.Item) -> str:
    if item.get_closest_marker(LINK_TIMING) is not None:
        return "link-timing"
    if item.get_closest_marker(BROWSER) is not None:
        return "browsers"
    return "rest"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(BROWSER)
    part = config.getoption("--part")
    if part == "all":
        return
    kept, dropped = [], []
    for item in items:
        (kept if _part_of(item) == part else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
