"""The machine a benchmark ran on, for its report's header: date, platform, CPUs, load average."""
import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" when it names none)."""
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                 .splitlines() if line.startswith("model name")), "")


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them ("0.52 0.58 0.59")."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_summary(date_format: str = "%Y-%m-%d", utc: bool = False) -> str:
    """'<date>, <platform>, <n> CPUs (<model>)': the start of a report's header (the date
    local, or UTC when `utc`)."""
    stamp = time.strftime(date_format, time.gmtime() if utc else time.localtime())
    return f"{stamp}, {platform.platform()}, {os.cpu_count()} CPUs ({cpu_model()})"
