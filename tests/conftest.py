"""Whatever a test does, the suite ends; and the tests that time a weak link can run apart.

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--link-timing",
        choices=("include", "exclude", "only"),
        default="include",
        help="tests marked link_timing (a browser on a degraded link, judged over tens of seconds): "
        "run them with the rest (include), leave them out (exclude) or run only them (only). "
        "scripts/test.sh runs the rest on two workers, then these alone, so that nothing beside "
        "them takes the CPU whose timing they judge.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    choice = config.getoption("--link-timing")
    if choice == "include":
        return
    keep_marked = choice == "only"
    kept = [item for item in items if (item.get_closest_marker(LINK_TIMING) is not None) == keep_marked]
    dropped = [item for item in items if item not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
