"""Accounts the client is not told about (issue 20): `reconciler apply` against `reconciler emulator serve
--rate UpdateImageSetMetadata=RATE:BURST`, with no --rate for updates on the client, which learns.

For each account, N image sets each get one update. The ideal is what a client that knew the quota would
take: the same apply against an unthrottled server (client unpaced too), plus (N - BURST) / RATE. Each
run's apply time is the report's ``elapsed_seconds`` (the plan's reads are not in it); throttled requests
are counted in the emulator's own request log. A second run (a new value for the same image sets, a
restarted server with its burst back) starts from the rate the first one learned.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path

from benchmarks.seeding import seed_small_image_sets
from reconciler.cli import main as cli
from reconciler.commands._common import Streams

UPDATE = "UpdateImageSetMetadata"
LOCK = 0.1  # seconds an updated image set stays LOCKED
UNPACED = ["--rate", "*=100000"]  # the baseline client: no pacing at all


@dataclass(frozen=True)
class Account:
    rate: float
    burst: int
    count: int
    first: float  # the first run's target ratio
    first_throttles: int | None  # the first run's most throttled requests (None: no goal)
    second: float | None = None  # the second run's target ratio
    rate_option_throttles: int | None = None  # with --rate UpdateImageSetMetadata=RATE: the most throttled

    @property
    def name(self) -> str:
        return f"{self.rate:g}/s burst {self.burst}"


ACCOUNTS = (
    Account(10.0, 40, 500, 1.2, 25, second=1.1),  # the Markdown page's quota
    Account(0.25, 1, 10, 1.25, 2, rate_option_throttles=0),  # the English page's
    Account(0.25, 10, 40, 1.25, None),  # the French page's
)


@dataclass(frozen=True)
class Run:
    seconds: float
    throttled: int
    reached: float  # the update rate the client reached (its report)
    converged: int


def _specs(folder: Path, ds: str, ids: list[str], value: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: '{ds}'\n"
            f"  imageSetId: {i}\ndesired:\n  Study:\n    DICOM:\n      StudyDescription: {value}\n" for i in ids]
    (folder / "bench.yaml").write_text("---\n".join(docs))
    return folder


def _apply(store: Path, specs: Path, server_rate: list[str], client: list[str], log: Path) -> Run:
    """Start `emulator serve` with SERVER_RATE, apply SPECS through it with CLIENT options, stop it."""
    with log.open("w") as err:
        serve = subprocess.Popen([sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store),
                                  "--port", "0", "--lock-seconds", str(LOCK), *server_rate],
                                 stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            assert serve.stdout is not None
            url = serve.stdout.readline().strip().rsplit(" ", 1)[-1]
            out = io.StringIO()
            with redirect_stderr(io.StringIO()):
                code = cli(["apply", str(specs), "--endpoint-url", url, "--auto-approve", "--format", "json",
                            "--journal", str(log.with_suffix(".jsonl")), *client],
                           Streams(out=out, err=io.StringIO(), inp=io.StringIO("")))
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    report = json.loads(out.getvalue())
    if code != 0:
        raise RuntimeError(f"apply exited {code}")
    throttled = sum(1 for line in log.read_text().splitlines() if "/updateImageSetMetadata " in line
                    and line.endswith(" 429"))
    reached = report.get("pacing", {}).get(UPDATE, {}).get("rate", 0.0)
    return Run(report["elapsed_seconds"], throttled, reached, report["summary"]["converged"])


def run_account(account: Account, tmp: Path) -> tuple[bool, list[str]]:
    """The baseline, the first and second runs (and the --rate run) of ACCOUNT; (met its goals, lines)."""
    root = tmp / f"{account.rate:g}-{account.burst}"
    ds, ids = seed_small_image_sets(root / "store", "bench-accounts", account.count, "BENCH")
    os.environ["RECONCILER_RATES_FILE"] = str(root / "rates.json")  # a fresh account: nothing learned yet
    quota = ["--rate", f"{UPDATE}={account.rate:g}:{account.burst}"]
    base = _apply(root / "store", _specs(root / "s0", ds, ids, "BASE"), [], UNPACED, root / "base.log")
    ideal = base.seconds + (account.count - account.burst) / account.rate
    first = _apply(root / "store", _specs(root / "s1", ds, ids, "FIRST"), quota, [], root / "first.log")
    second = _apply(root / "store", _specs(root / "s2", ds, ids, "SECOND"), quota, [], root / "second.log")
    ok = first.seconds / ideal <= account.first and second.converged == first.converged == account.count
    ok = ok and (account.first_throttles is None or first.throttled <= account.first_throttles)
    ok = ok and (account.second is None or second.seconds / ideal <= account.second)
    bound = (account.count - account.burst) / account.rate
    lines = [f"  account {account.name}, N = {account.count}: ideal {ideal:.1f} s "
             f"(unthrottled apply {base.seconds:.1f} s + (N - burst) / rate = {bound:.1f} s); first run "
             f"{first.seconds / bound:.2f} x and second {second.seconds / bound:.2f} x (N - burst) / rate alone",
             f"    first run : {first.seconds:6.1f} s = {first.seconds / ideal:.2f} x ideal, "
             f"{first.throttled} throttled ({100 * first.throttled / account.count:.1f} % of N), "
             f"reached {first.reached:.3g}/s  "
             f"target <= {account.first}" + (f", <= {account.first_throttles} throttled"
                                              if account.first_throttles is not None else ""),
             f"    second run: {second.seconds:6.1f} s = {second.seconds / ideal:.2f} x ideal, {second.throttled} "
             f"throttled, from the learned rate, reached {second.reached:.3g}/s"
             + (f"  target <= {account.second}" if account.second is not None else "")]
    if account.rate_option_throttles is not None:
        capped = _apply(root / "store", _specs(root / "s3", ds, ids, "CAPPED"), quota,
                        ["--rate", f"{UPDATE}={account.rate:g}"], root / "capped.log")
        ok = ok and capped.throttled <= account.rate_option_throttles
        lines.append(f"    with --rate {UPDATE}={account.rate:g}: {capped.seconds:6.1f} s = "
                     f"{capped.seconds / ideal:.2f} x ideal, {capped.throttled} throttled  target "
                     f"{account.rate_option_throttles}")
    return ok, lines


def run_accounts(only: str | None = None) -> bool:
    """Every account (or those whose name contains ONLY); prints the figures, returns whether all met."""
    met = True
    previous = os.environ.get("RECONCILER_RATES_FILE")
    print("accounts the client is not told about (emulator serve --rate UpdateImageSetMetadata=RATE:BURST):")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmp:
            for account in ACCOUNTS:
                if only and only not in account.name:
                    continue
                ok, lines = run_account(account, Path(tmp))
                print("\n".join(lines), flush=True)
                met = met and ok
    finally:
        if previous is None:
            os.environ.pop("RECONCILER_RATES_FILE", None)
        else:
            os.environ["RECONCILER_RATES_FILE"] = previous
    return met
