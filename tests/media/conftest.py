"""The SFU's tests run on uvloop, the loop it runs on in production (the media workers and the main
server both run uvloop): its UDP transport calls ``datagram_received`` and sends from C, and the
datagram fast path (``media/aiortc_seam.py``) hooks exactly that call."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import uvloop
from pytest_asyncio.plugin import LoopFactory


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, LoopFactory]:
    return {"uvloop": uvloop.new_event_loop}
