"""How fast the command line answers: the best of N runs of each command, against `python -c pass`.

    .venv/bin/python benchmarks/bench_cli.py [--runs 5] [--no-check]

Prints one row per command (best and median wall-clock seconds, and the best's overhead over
starting Python) under the CPU's model name. Exits with 1 if `nas4cnn --help` takes 0.5 s or
more (the issue's bound), unless --no-check. Not a timed test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

LIMIT_S = 0.5  # `nas4cnn --help` must answer in less
# The installed command beside this Python, as a user runs it; else the same through Python.
_SCRIPT = Path(sys.executable).with_name("nas4cnn")
NAS4CNN = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "nas4cnn"]

# (label, command line)
CASES = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("nas4cnn --help", [*NAS4CNN, "--help"]),
    ("nas4cnn search --help", [*NAS4CNN, "search", "--help"]),
    ("nas4cnn space", [*NAS4CNN, "space"]),
    ("nas4cnn search --epochs many (error)", [*NAS4CNN, "search", "--epochs", "many"]),
    ('python -c "import nas4cnn"', [sys.executable, "-c", "import nas4cnn"]),
]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo or lscpu where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def time_runs(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=5, help="runs of each command; the best counts (default 5)")
    parser.add_argument("--no-check", action="store_true", help=f"do not fail when --help takes {LIMIT_S} s or more")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be an integer >= 1; got {args.runs}")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); Python {platform.python_version()}; "
          f"best and median of {args.runs} runs")
    print(f"{'command':<38} {'best s':>7} {'median s':>9} {'over python':>12}")
    results = {}
    for label, case in CASES:
        times = time_runs(case, args.runs)
        results[label] = min(times)
        base = results[CASES[0][0]]
        print(f"{label:<38} {min(times):>7.3f} {statistics.median(times):>9.3f} {min(times) - base:>+12.3f}")
    help_s = results["nas4cnn --help"]
    if help_s >= LIMIT_S and not args.no_check:
        print(f"nas4cnn --help took {help_s:.3f} s, not under {LIMIT_S} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
