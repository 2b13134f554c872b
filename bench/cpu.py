"""Who used the machine's cores during a measured window: processes, one thread, the whole machine (Linux /proc).

A throughput figure alone cannot tell a program bound by its own CPU from one waiting on something else; the
cores each part used over the same window can. Counters are sampled every 50 ms and a window is read between
the last sample before its start and the first after its end (rounded outwards).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

CpuSource = Callable[[], float]
"""CPU seconds used so far by something."""
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat_cpu_s(stat: Path) -> float:
    """User + system seconds from a /proc/…/stat file (0 once the process is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


def process(pid: int) -> CpuSource:
    return lambda: _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def main_thread(pid: int) -> CpuSource:
    """The thread that started the process: a Python program's event loop."""
    return lambda: _stat_cpu_s(Path(f"/proc/{pid}/task/{pid}/stat"))


def process_tree(pid: int) -> CpuSource:
    """A process and its children (nginx's master and workers)."""
    def used() -> float:
        return sum(_stat_cpu_s(Path(f"/proc/{p}/stat")) for p in [pid, *_children(pid)])
    return used


def processes_running(main_class: str) -> CpuSource:
    """Every process whose command line names `main_class` (the Kafka brokers: kafka.Kafka)."""
    pids = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/cmdline") if _cmdline_has(p, main_class)]
    return lambda: sum(_stat_cpu_s(Path(f"/proc/{pid}/stat")) for pid in pids)


def processes_called(name: str) -> CpuSource:
    """Every process whose name is `name`, looked up at each reading (PostgreSQL's server and its backends, which
    come and go; a backend that has exited no longer counts)."""
    def used() -> float:
        return sum(_stat_cpu_s(comm.with_name("stat")) for comm in Path("/proc").glob("[0-9]*/comm")
                   if _name_is(comm, name))
    return used


def machine() -> float:
    """Busy seconds of all cores together: everything but idle and I/O wait."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) * TICK_S


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _name_is(comm: Path, name: str) -> bool:
    try:
        return comm.read_text().strip() == name
    except OSError:
        return False


def _cmdline_has(cmdline: Path, word: str) -> bool:
    try:
        return word.encode() in cmdline.read_bytes().split(b"\0")
    except OSError:
        return False


class CpuSampler:
    """Samples named sources in the background; `cores(start, end)` is what each used per second of the window."""

    def __init__(self, sources: dict[str, CpuSource], every_s: float = 0.05) -> None:
        self._sources = sources
        self._every_s = every_s
        self._samples: list[tuple[float, dict[str, float]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CpuSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._take()  # one sample after the window's end
        self._task.cancel()

    async def _sample(self) -> None:
        while True:
            self._take()
            await asyncio.sleep(self._every_s)

    def _take(self) -> None:
        self._samples.append((time.time(), {name: used() for name, used in self._sources.items()}))

    def seconds(self, start_s: float, end_s: float) -> tuple[float, dict[str, float]]:
        """(the sampled wall time covering [start_s, end_s], CPU seconds of each source over it)."""
        before = [s for s in self._samples if s[0] <= start_s] or self._samples[:1]
        after = [s for s in self._samples if s[0] >= end_s] or self._samples[-1:]
        (t0, first), (t1, last) = before[-1], after[0]
        return t1 - t0, {name: last[name] - first[name] for name in self._sources}

    def cores(self, start_s: float, end_s: float) -> dict[str, float]:
        wall_s, used = self.seconds(start_s, end_s)
        return {name: round(cpu_s / wall_s, 2) for name, cpu_s in used.items()}
