"""The CLI a user runs: it prints what the README promises and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from tests.support.services import start_demo_server


def test_demo_prints_working_access_and_sigterm_stops_it(tmp_path: Path) -> None:
    server = start_demo_server(tmp_path)
    try:
        with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5) as response:
            assert json.load(response)["status"] == "ok"
        assert server.console_url == f"{server.base_url}/consola"
        assert server.patient_link.startswith(f"{server.base_url}/paciente#t=v1.")
        request = urllib.request.Request(
            f"{server.base_url}/api/session",
            data=json.dumps({"username": server.username, "password": server.password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["role"] == "nurse"
    finally:
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=20)
    assert code == 0
    output = "".join(server.output)
    assert "Shutting down" in output
    # Neither the token nor the password ever reaches the log lines.
    token = server.patient_link.split("#t=")[1]
    log_lines = [
        line for line in server.output if " INFO " in line or " WARNING " in line or " ERROR " in line
    ]
    assert log_lines, "the access log should have recorded the requests"
    assert not any(token in line or server.password in line for line in log_lines)
