"""`make bench`: run every benchmarks/bench_*.py module's ``main()`` (or only those named on the command line).

Each benchmark prints ratios against a baseline measured in the same run, because the machine is shared
and absolute times mislead. A benchmark whose ratio misses its target exits non-zero, and so does this.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed: list[str] = []
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        code = module.main()
        print(f"== {name}: {'ok' if not code else 'MISSED TARGET'} ({time.perf_counter() - started:.1f} s)\n")
        if code:
            failed.append(name)
    if failed:
        print("benchmarks that missed their target: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
