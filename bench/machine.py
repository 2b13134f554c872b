"""What every figure names: the machine, the versions and the settings it was measured with."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from deploy.local.kafka import KAFKA_VERSION
from schemas.settings import Settings

PACKAGES = ("aiokafka", "faust-streaming", "aiohttp", "pydantic", "pyreqwest", "prometheus-client")


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    text = Path("/proc/meminfo").read_text()
    match = re.search(r"MemTotal:\s+(\d+) kB", text)
    return round(int(match.group(1)) / 1024**2, 1) if match else 0.0


def _tool_version(*command: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    return (result.stdout + result.stderr).strip().splitlines()[0] if (result.stdout + result.stderr) else "?"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(settings: Settings) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "memory_gib": _memory_gib(),
                    "load_avg_1m_at_start": round(os.getloadavg()[0], 2), "kernel": platform.release()},
        "versions": {"python": platform.python_version(), "kafka": KAFKA_VERSION,
                     **{name: _package(name) for name in PACKAGES},
                     "nginx": _tool_version("nginx", "-v"), "wrk": _tool_version("wrk", "-v")},
        "settings": {"partitions": settings.partitions, "max_in_flight": settings.max_in_flight,
                     "max_per_host": settings.max_per_host, "request_timeout_s": settings.request_timeout_s,
                     "retry_schedule_s": list(settings.retry_schedule),
                     "producer_linger_ms": settings.producer_linger_ms},
    }


def caption(env: dict[str, Any], *, with_time: bool = True) -> str:
    """One line for the foot of a chart."""
    m, v, s = env["machine"], env["versions"], env["settings"]
    text = (f"{m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB · Python {v['python']}, Kafka {v['kafka']}, "
            f"aiokafka {v['aiokafka']}, faust-streaming {v['faust-streaming']}, pyreqwest {v['pyreqwest']} · "
            f"{s['partitions']} partitions, max_per_host {s['max_per_host']}, request timeout "
            f"{s['request_timeout_s']:g} s")
    return f"{text} · {env['at']}" if with_time else text
