"""The netboot bench's console milestones and its Markdown report."""
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

# Console lines that mark the boot's phases, in order, per firmware (the console has no
# timestamps: the bench notes when each first appears, polling every 50 ms).
GUEST = (("kernel started", "Linux version"), ("/init started", "metal: init started"),
         ("/init has a lease", "metal: dhcp address"))
MILESTONES = {
    "bios": (("DHCP done (iPXE)", "Next server:"), ("undionly.kpxe loading", "undionly.kpxe"),
             ("iPXE script loading", "/ipxe/boot.ipxe"), ("lpxelinux running", "PXELINUX"),
             ("kernel loading", "/linux"), ("initrd loading", "/initrd.gz"), *GUEST),
    # OVMF's PXE client prints its steps; shim prints nothing; GRUB runs the config's echo.
    "uefi-secureboot": (("PXE started (OVMF)", "Start PXE over IPv4"),
                        ("DHCP done (OVMF)", "Station IP address"),
                        ("shim downloaded", "NBP file downloaded successfully"),
                        ("GRUB config running", "Booting commission"), *GUEST[:1],
                        ("kernel verified (Secure Boot)", "secureboot: Secure boot enabled"),
                        *GUEST[1:]),
}
LABELS = {"ours": "ours (bootsvc)",
          "ours-no-ra": "ours, IPv6 router solicitations not answered",
          "ours-ipxe": "ours, BIOS loader iPXE",
          "ours-ipxe-no-ra": "ours, BIOS loader iPXE, IPv6 RS not answered",
          "baseline": "dnsmasq + nginx"}
BASELINE_UEFI = "dnsmasq (TFTP only: no HTTP in the signed GRUB)"
TARGETS = {"bios": ("BIOS: ours-*-no-ra ≤ 0.9 × baseline (equal conditions)", "-no-ra"),
           "uefi-secureboot": ("UEFI: ours ≤ 0.9 × baseline", "ours")}


@dataclass
class Results:
    """One variant's boots: seconds (None: failed), console milestones, rack TIME_WAITs."""

    seconds: list = field(default_factory=list)
    phases: list = field(default_factory=list)
    time_wait: list = field(default_factory=list)

    def median(self) -> float | None:
        done = [s for s in self.seconds if s is not None]
        return statistics.median(done) if done else None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the machine, in the header)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def header(firmware: str, memory: int) -> str:
    """Title line: firmware, date, machine, load, VM, Python."""
    return (f"### Netboot ({firmware}): IPMI power-on → first metadata call "
            f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({cpu_model()}), "
            f"load {os.getloadavg()[0]:.1f}, qemu TCG {memory} MiB, Python "
            f"{platform.python_version()})")


def label(name: str, firmware: str) -> str:
    return BASELINE_UEFI if name == "baseline" and firmware != "bios" else LABELS[name]


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(results: dict[str, Results], firmware: str, memory: int, logs: str) -> None:
    """Per variant: runs, failures, failure rate, times, median, ratio, TIME_WAIT."""
    base = results["baseline"].median() if "baseline" in results else None
    print(f"\n{header(firmware, memory)}\n")
    print("| stack | runs | failures | failure rate | boots (s) | median s | / baseline | "
          "rack TIME_WAIT with the VM (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        failures = res.seconds.count(None)
        median = res.median()
        ratio = median / base if median is not None and base else None
        times = ", ".join("fail" if s is None else f"{s:.1f}" for s in res.seconds)
        waits = statistics.median(res.time_wait) if res.time_wait else None
        print(f"| {label(name, firmware)} | {len(res.seconds)} | {failures} | "
              f"{failures / max(len(res.seconds), 1):.0%} | {times} | {fmt(median)} | "
              f"{fmt(ratio, 2)} | {fmt(waits, 0)} |")
    print(f"\ntarget: {target_line(results, firmware, base)}; logs in {logs}")


def target_line(results: dict[str, Results], firmware: str, base: float | None) -> str:
    """The firmware's target and each matching variant's ratio against it."""
    text, marker = TARGETS[firmware]
    checked = [name for name in results if name.startswith("ours")
               and (name.endswith(marker) if marker.startswith("-") else name == marker)]
    verdicts = []
    for name in checked:
        median = results[name].median()
        if median is None or not base:
            verdicts.append(f"{name} –")
            continue
        ratio = median / base
        verdicts.append(f"{name} {ratio:.2f} {'met' if ratio <= 0.9 else 'not met'}")
    return f"{text} → {', '.join(verdicts) or 'no such variant run'}"


def report_phases(results: dict[str, Results], firmware: str) -> None:
    """Median time after power-on at which each console milestone appeared, per stack."""
    print("\n| milestone (s after power-on, median) | "
          + " | ".join(label(n, firmware) for n in results) + " |")
    print("|---|" + "---|" * len(results))
    for name, _ in MILESTONES[firmware]:
        cells = []
        for res in results.values():
            times = [seen[name] for seen in res.phases if name in seen]
            cells.append(fmt(statistics.median(times)) if times else "–")
        if any(cell != "–" for cell in cells):  # milestones of loaders no variant used
            print(f"| {name} | " + " | ".join(cells) + " |")
