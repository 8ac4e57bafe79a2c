"""Start-up benchmark: what every `reconciler` command pays before it does its work.

The CPU time (user + system, of the child process) of `reconciler --help`, `reconciler plan --help` and a
`reconciler plan` of the README tour against a local demo store, each a fresh `python -m reconciler`, as
ratios against `python -c "import boto3"` measured in the same run (interleaved, median of 7). The CLI
builds and imports only the command that runs, and the renderers, boto3 and jsonschema load only for the
commands that use them. Targets: --help <= 0.5 and plan --help <= 0.8 of the boto3 import (neither loads
boto3); the plan, which needs boto3 (the client), jsonschema (the spec schema) and the emulator, <= 3.0.
"""

from __future__ import annotations

import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from reconciler import demo

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
TARGETS = {"--help": 0.5, "plan --help": 0.8, "plan --local": 3.0}


def cpu(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) of running ARGV to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr.decode(errors='replace')}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # every start would compile its modules again
    env.pop("RECONCILER_LOCAL", None)
    with tempfile.TemporaryDirectory() as scratch:
        store = str(Path(scratch) / "store")
        demo.reset(store)
        demo.seed(store, io.StringIO())
        cli = [sys.executable, "-m", "reconciler"]
        commands = {
            "baseline": [sys.executable, "-c", "import boto3"],
            "--help": [*cli, "--help"],
            "plan --help": [*cli, "plan", "--help"],
            "plan --local": [*cli, "plan", "examples/tour", "--local", store],
        }
        for argv in commands.values():  # warm: bytecode written, files in the page cache
            cpu(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(RUNS):  # interleaved, so a noisy neighbour hits all alike
            for name, argv in commands.items():
                times[name].append(cpu(argv, env))
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["baseline"]
    print(f"baseline `python -c 'import boto3'`: {base * 1000:.0f} ms CPU (median of {RUNS})")
    missed = 0
    for name, target in TARGETS.items():
        ratio = median[name] / base
        missed += ratio > target
        print(f"reconciler {name}: {median[name] * 1000:.0f} ms CPU, ratio {ratio:.2f} (target <= {target:.2f})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
