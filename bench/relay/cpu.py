"""CPU time from ``/proc``: of a process tree (the server and its media workers, or the load
generators) and of the whole machine, so each figure is what that part spent and nothing else."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


@dataclass
class CpuSample:
    """CPU time of a set of processes: per process from ``stat`` (10 ms ticks, includes threads
    that ended) and per thread from ``schedstat`` (nanoseconds, live threads only)."""

    process: dict[int, float]
    threads: dict[tuple[int, int], float]

    @classmethod
    def take(cls, pids: list[int]) -> CpuSample:
        process: dict[int, float] = {}
        threads: dict[tuple[int, int], float] = {}
        for pid in pids:
            try:
                fields = _stat_fields(pid)
                process[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICK
                for tid in os.listdir(f"/proc/{pid}/task"):
                    text = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
                    threads[(pid, int(tid))] = int(text.split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
        return cls(process, threads)

    def since(self, start: CpuSample) -> dict[int, float]:
        """CPU seconds per process between two samples."""
        spent: dict[int, float] = {}
        for pid, total in self.process.items():
            mine = {key: value for key, value in self.threads.items() if key[0] == pid}
            before = {key: value for key, value in start.threads.items() if key[0] == pid}
            if set(before) <= set(mine):  # no thread ended: the precise per-thread figures add up
                spent[pid] = sum(value - before.get(key, 0.0) for key, value in mine.items())
            else:
                spent[pid] = total - start.process.get(pid, 0.0)
        return spent


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot: everything but idle and
    iowait, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICK


def machine_steal() -> float:
    """CPU seconds the hypervisor gave to other guests (all cores) since boot: ``steal`` in
    ``/proc/stat``. On these machines it is large and bursty, so every window reports it."""
    return int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / CLOCK_TICK


def cores_used(pids: list[int], seconds: float) -> float:
    """What the processes use together over the next ``seconds``, in cores."""
    start = CpuSample.take(pids)
    time.sleep(seconds)
    return sum(CpuSample.take(pids).since(start).values()) / seconds


def wait_until_quiet(pids: Callable[[], list[int]], *, below: float, interval: float, limit: float) -> float:
    """Wait until the processes ``pids()`` names use, together, under ``below`` cores over
    ``interval`` seconds; the seconds waited (``limit`` if they never were that quiet)."""
    began = time.monotonic()
    while time.monotonic() - began < limit and cores_used(pids(), interval) >= below:
        pass
    return time.monotonic() - began
