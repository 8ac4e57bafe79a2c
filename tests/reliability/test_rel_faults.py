"""Every emulator fault kind at rising probabilities on every operation the tool calls.

Each case serves a fresh store over HTTP with one ``--fault``-style rule, runs the real CLI (in this
process, under a watchdog: a hang fails the case) and checks: the exit code agrees with the report;
every "converged" image set really holds its spec and a failure has a message; the attempts on the
faulted operation stay within the retry budget (counted from the server's request log); and a
fault-free re-run converges. A smaller set runs the CLI and `emulator serve` as subprocesses, with
``timeout=``.
"""

from __future__ import annotations

import functools
import io
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconciler.client import session
from reconciler.emulator.knobs import FAULT_KINDS, EmulatorConfig
from reconciler.ratelimit import RetryPolicy
from tests.support.backends import start_server
from tests.support.relenv import (
    CLI_RATES,
    DS,
    apply_report,
    history,
    run,
    run_inprocess,
    satisfies,
    seed,
    serve,
    write_specs,
)

IMAGE_SETS = 4  # the last one is targeted by a select spec (SearchImageSets)
MAX_ATTEMPTS = 8  # the CLI's default retry budget per call
WATCHDOG = 60.0
APPLY_OPS = ("GetImageSet", "GetImageSetMetadata", "SearchImageSets", "UpdateImageSetMetadata")
PATH_OPS = {"getImageSet": "GetImageSet", "getImageSetMetadata": "GetImageSetMetadata",
            "updateImageSetMetadata": "UpdateImageSetMetadata", "listImageSetVersions": "ListImageSetVersions",
            "searchImageSets": "SearchImageSets"}
SELECT_SPEC = """apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {ds}
  select:
    DICOMPatientId: P{n}
desired:
  Study:
    DICOM:
      StudyDescription: "{tag} STUDY {n}"
"""


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's retry budget (attempts) unchanged, its backoff scaled down so that cases stay fast."""
    monkeypatch.setattr(session, "RetryPolicy", functools.partial(RetryPolicy, base=0.002, cap=0.02))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "RECONCILER_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def make_specs(folder: Path, tag: str, ids: list[str]) -> Path:
    """Specs by image set ID, except the last image set, which is found by DICOMPatientId."""
    write_specs(folder, tag, ids)
    n = len(ids)
    (folder / f"s{n:04d}.yaml").write_text(SELECT_SPEC.format(ds=DS, n=n, tag=tag))
    return folder


def holds(store: Path, ids: list[str], tag: str, image_set: str) -> bool:
    n = ids.index(image_set) + 1
    doc = history(store, image_set)[-1]
    if n == len(ids):
        return bool(doc["Study"]["DICOM"].get("StudyDescription") == f"{tag} STUDY {n}")
    return satisfies(doc, tag, n)


def attempts(log: str) -> Counter[str]:
    """Requests per operation in the server's log (``POST /datastore/.../getImageSet 200``, or dropped)."""
    counts: Counter[str] = Counter()
    for line in log.splitlines():
        m = re.match(r"(?:GET|POST) \S*/(\w+) ", line)
        if m and m.group(1) in PATH_OPS:
            counts[PATH_OPS[m.group(1)]] += 1
    return counts


def last_status(log: str, path_op: str) -> str:
    """The status of the server's last answer to PATH_OP (``dropped`` for a dropped connection)."""
    answers = [line.split()[-1] for line in log.splitlines() if re.match(rf"(?:GET|POST) \S*/{path_op} ", line)]
    assert answers, f"no {path_op} request reached the server"
    return answers[-1]


def watched(*argv: str) -> tuple[int, str, str]:
    """The CLI in a thread: a hang past WATCHDOG seconds fails the test instead of stalling it."""
    box: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: box.append(run_inprocess(*argv)), daemon=True)
    worker.start()
    worker.join(WATCHDOG)
    assert box, f"reconciler {argv[0]} still running after {WATCHDOG} s"
    return box[0]


def served_case(tmp_path: Path, faults: dict[str, list[tuple[str, float]]], argv: list[str],
                seed_value: int) -> tuple[int, str, str, Counter[str], str]:
    """Run the CLI against a thread-served store with FAULTS; return (code, out, err, attempts per op, the
    server's request log)."""
    log = io.StringIO()
    server, thread, url = start_server(tmp_path / "store", EmulatorConfig(faults=faults, seed=seed_value), log=log)
    try:
        code, out, err = watched(*argv, "--endpoint-url", url, *CLI_RATES)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return code, out, err, attempts(log.getvalue()), log.getvalue()


def _check_one_line_errors(err: str) -> None:
    assert "Traceback" not in err
    for line in err.splitlines():
        assert len(line) < 1000


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    """Requests per operation of a fault-free apply and history (the unit of the retry bound)."""
    tmp = tmp_path_factory.mktemp("baseline")
    ids = seed(tmp / "store", IMAGE_SETS)
    specs = make_specs(tmp / "specs", "B", ids)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test")
        code, _out, err, counts, _log = served_case(
            tmp, {}, ["apply", str(specs), "--auto-approve", "--format", "json", "--journal", str(tmp / "j")], 1)
        assert code == 0, err
        code, _out, err, more, _log = served_case(
            tmp, {}, ["history", "--datastore-id", DS, "--image-set-id", ids[0], "--format", "json"], 1)
        assert code == 0, err
    return counts + more


# copy_failed only touches CopyImageSet, which apply does not send
CASES = [(op, kind, p) for op in (*APPLY_OPS, "ListImageSetVersions") for kind in FAULT_KINDS
         if kind != "copy_failed" for p in (0.1, 0.3, 0.6, 1.0)]


@pytest.mark.parametrize(("op", "kind", "probability"), CASES, ids=[f"{o}-{k}-{p}" for o, k, p in CASES])
def test_faults_keep_exit_codes_and_reports_right_and_retries_bounded(
    tmp_path: Path, baseline: Counter[str], op: str, kind: str, probability: float
) -> None:
    ids = seed(tmp_path / "store", IMAGE_SETS)
    store = tmp_path / "store"
    faults = {op: [(kind, probability)]}
    harmless = kind == "update_failed" and op != "UpdateImageSetMetadata"  # only an update can end UPDATE_FAILED
    if op == "ListImageSetVersions":
        code, out, err, counts, log = served_case(
            tmp_path, faults, ["history", "--datastore-id", DS, "--image-set-id", ids[0], "--format", "json"], 7)
        _check_one_line_errors(err)
        # one page of versions: history succeeds exactly when the server's last answer to it was a 200
        # (the client stops after its retry budget, so a failed last attempt means it gave up)
        assert code == (0 if last_status(log, "listImageSetVersions") == "200" else 1), log
        if code == 0:
            assert out.strip().startswith(("{", "["))
        else:
            assert err.startswith("error: ") and ids[0] in err and len(err.strip().splitlines()) == 1
        if probability == 1.0 and not harmless:
            assert code == 1
    else:
        specs = make_specs(tmp_path / "specs", "F", ids)
        code, out, err, counts, _log = served_case(
            tmp_path, faults, ["apply", str(specs), "--auto-approve", "--format", "json",
                               "--journal", str(tmp_path / "j.jsonl")], 7)
        _check_one_line_errors(err)
        if out.strip():
            results = apply_report(out)
            statuses = {r["status"] for r in results}
            assert code == (1 if "failed" in statuses else 3 if "stale" in statuses else 0), (statuses, err)
            assert "stale" not in statuses  # nobody else writes: a retried update must not look stale
            for r in results:
                if r["status"] in ("converged", "unchanged"):
                    assert holds(store, ids, "F", r["imageSetId"]), r
                else:
                    assert r["message"], r
        else:
            assert code == 1 and err.startswith("error: "), err
        if probability == 1.0 and not harmless:
            assert code == 1
    # retries stay bounded: at most MAX_ATTEMPTS attempts for each call a fault-free run makes
    assert counts[op] <= MAX_ATTEMPTS * max(1, baseline[op]) + (2 if op == "GetImageSet" else 0), counts
    if harmless or probability < 1.0:
        assert sum(counts.values()) >= baseline[op]
    # and the tool recovers: without faults, a re-run converges
    if op != "ListImageSetVersions":
        code, _out, err, _, _log = served_case(tmp_path, {}, ["apply", str(specs), "--auto-approve", "--format", "json",
                                                        "--journal", str(tmp_path / "rerun.jsonl")], 7)
        assert code == 0, err
        assert all(holds(store, ids, "F", i) for i in ids)


SERVE_FAULTS = [
    ["--fault", "GetImageSet=500:0.3", "--fault", "GetImageSetMetadata=throttle:0.3",
     "--fault", "UpdateImageSetMetadata=drop:0.3", "--fault", "SearchImageSets=500:0.3"],
    ["--fault", "UpdateImageSetMetadata=update_failed:1.0"],
    ["--fault", "*=throttle:0.2", "--rate", "UpdateImageSetMetadata=20"],
]


@pytest.mark.parametrize("flags", SERVE_FAULTS, ids=["mixed-0.3", "update_failed-1.0", "throttle-rate"])
def test_faults_through_emulator_serve_and_cli_subprocesses(tmp_path: Path, flags: list[str]) -> None:
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    specs = make_specs(tmp_path / "specs", "S", ids)
    with serve(store, tmp_path, "--lock-seconds", "0.05", *flags) as served:
        proc = run(tmp_path, "apply", str(specs), "--auto-approve", "--format", "json", "--journal", "j.jsonl",
                   "--endpoint-url", served.url, *CLI_RATES, timeout=150)
    _check_one_line_errors(proc.stderr)
    results: list[dict[str, Any]] = apply_report(proc.stdout)
    statuses = {r["status"] for r in results}
    assert proc.returncode == (1 if "failed" in statuses else 0), proc.stderr
    if "update_failed" in flags[1]:
        assert statuses == {"failed"}
        assert all(len(history(store, i)) == 2 and not holds(store, ids, "S", i) for i in ids)
    for r in results:
        assert (r["status"] == "converged") == holds(store, ids, "S", r["imageSetId"])
    assert "Traceback" not in served.log
