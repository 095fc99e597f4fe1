"""Where the server's CPU goes under the comparison's heaviest load: py-spy samples every server
process (the signaling process and the media workers) for one window, without pausing them,
and the folded stacks are summed by function: self time (the function on top of the stack) and
total time (anywhere on it), as percentages of the samples of that kind of process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE = 250
"""Samples per second and process."""

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Hotspot:
    function: str
    self_pct: float
    total_pct: float


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def record(pids: list[int], seconds: float, folder: Path) -> dict[int, Path]:
    """Sample each process for ``seconds``; returns the folded-stack file of each."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {pid: folder / f"{pid}.folded" for pid in pids}
    running = [
        subprocess.Popen(
            _command(binary, pid, seconds, path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for pid, path in outputs.items()
    ]
    for process in running:
        process.wait(timeout=seconds + 30)
    return {pid: path for pid, path in outputs.items() if path.exists()}


def _command(binary: str, pid: int, seconds: float, output: Path) -> list[str]:
    """Sample without pausing the process (``--nonblocking``), as folded stacks."""
    return [
        *(binary, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", str(RATE)),
        *("--format", "raw", "--nonblocking", "--output", str(output)),
    ]


def _function(frame: str) -> str:
    """``name (path/to/module.py:123)`` -> ``module.py:name``, so lines of one function add up."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{Path(match['file']).name}:{match['function']}"


def hotspots(files: list[Path], top: int = 15) -> tuple[int, list[Hotspot]]:
    """Samples in all ``files`` and the functions with the most self time."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_function(frame) for frame in stack.split(";")]
            if not frames:
                continue
            samples += count
            own[frames[-1]] += count
            for name in set(frames):
                anywhere[name] += count
    if samples == 0:
        return 0, []
    return samples, [
        Hotspot(name, 100 * count / samples, 100 * anywhere[name] / samples)
        for name, count in own.most_common(top)
    ]


def print_hotspots(title: str, samples: int, spots: list[Hotspot]) -> None:
    print(f"  {title}: {samples} samples; by self time (total in brackets)")
    for spot in spots:
        print(f"    {spot.self_pct:5.1f} %  ({spot.total_pct:5.1f} %)  {spot.function}")
