"""What machine a benchmark ran on, printed at the top of every benchmark."""

from __future__ import annotations

import os
import platform
import statistics


def machine() -> str:
    """One line: CPU model, cores, memory, Python."""
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def ms(samples: list[float]) -> str:
    """Median and p95 of samples in seconds, as milliseconds."""
    s = sorted(samples)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return f"{statistics.median(s) * 1000:8.2f} ms (p95 {p95 * 1000:.2f})"


def median(samples: list[float]) -> float:
    """The median of samples."""
    return statistics.median(samples)
