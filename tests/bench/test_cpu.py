"""The benchmarks' CPU accounting reads real /proc counters of this very process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

from bench import cpu
from bench.cpu import CpuSampler


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_a_busy_side_thread_counts_for_the_process_not_for_its_main_thread() -> None:
    process, main, machine = cpu.process(os.getpid()), cpu.main_thread(os.getpid()), cpu.machine
    before = process(), main(), machine()
    side = threading.Thread(target=_burn, args=(0.3,))
    side.start()
    side.join()
    after = process(), main(), machine()
    assert after[0] - before[0] >= 0.25
    assert after[1] - before[1] < 0.1
    assert after[2] - before[2] >= 0.25


def test_a_process_that_is_gone_counts_nothing() -> None:
    assert cpu.process(2**22 + 1)() == 0.0


async def test_the_window_is_read_between_the_samples_around_it() -> None:
    async with CpuSampler({"me": cpu.process(os.getpid())}, every_s=0.02) as sampler:
        await asyncio.sleep(0.1)
        start = time.time()
        _burn(0.3)  # on the event loop: the sampler cannot sample meanwhile
        end = time.time()
        await asyncio.sleep(0.1)
    wall_s, used = sampler.seconds(start, end)
    assert wall_s >= end - start
    assert used["me"] >= 0.25
    assert 0.5 <= sampler.cores(start, end)["me"] <= 1.1  # one core at most (plus a clock tick)



BURN_AS = """import ctypes, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME: the name /proc/<pid>/comm shows
deadline = time.process_time() + 0.3
while time.process_time() < deadline:
    pass
print("burnt", flush=True)
time.sleep(60)
"""


def test_processes_by_name_include_those_started_after_the_source() -> None:
    """PostgreSQL starts a backend per connection: a source made before the backend must count it."""
    name = f"burn{os.getpid() % 100_000}"
    used = cpu.processes_called(name)
    assert used() == 0.0
    child = subprocess.Popen([sys.executable, "-c", BURN_AS, name], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "burnt\n"
        assert used() >= 0.25
    finally:
        child.kill()
        child.wait()
    assert used() == 0.0  # gone: no longer counted
