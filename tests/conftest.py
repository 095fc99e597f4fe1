"""Whatever a test does, the suite ends.

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
