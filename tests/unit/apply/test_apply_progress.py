"""Progress output: a \\r bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from reconciler.apply.progress import Progress
from reconciler.apply.report import ImageSetResult


def result(status: str) -> ImageSetResult:
    return ImageSetResult("d", "i" * 32, status, "1")  # type: ignore[arg-type]


def test_plain_lines_without_a_terminal() -> None:
    out = io.StringIO()
    p = Progress(out, live=False)
    p.started(2)
    p.finished(result("converged"))
    p.finished(result("failed"))
    assert out.getvalue().splitlines() == [f"[1/2] {'i' * 32}: converged", f"[2/2] {'i' * 32}: failed"]


def test_live_bar_shows_done_failed_remaining_and_eta() -> None:
    now = [0.0]
    out = io.StringIO()
    p = Progress(out, live=True, clock=lambda: now[0])
    p.started(4)
    now[0] = 10.0
    p.finished(result("stale"))
    assert "\r" in out.getvalue()
    assert "1/4 done, 1 failed/stale, 3 remaining, ETA 30s" in p.line()
    for _ in range(3):
        p.finished(result("converged"))
    assert out.getvalue().endswith("ETA 0s\n")


def test_an_interrupt_ends_the_bar_line_then_says_what_it_waits_for() -> None:
    out = io.StringIO()
    p = Progress(out, live=True, clock=lambda: 0.0)
    p.started(3)
    p.interrupted("SIGINT", 1, 25.0)
    p.finished(result("converged"))
    p.finished(ImageSetResult("d", "n" * 32, "not_started", "1"))  # not done: nothing is printed for it
    p.close()
    bar, notice, line, end = out.getvalue().split("\n")
    assert bar.startswith("\r[") and "0/3 done" in bar
    assert notice == ("Interrupted (SIGINT): sending no new requests; waiting up to 25 s for the 1 image set in "
                      "flight to finish and be verified (press Ctrl-C again to stop at once).")
    assert (line, end) == (f"[1/3] {'i' * 32}: converged", "")


def test_close_ends_an_open_bar_once() -> None:
    out = io.StringIO()
    p = Progress(out, live=True)
    p.started(2)
    p.close()
    p.close()
    assert out.getvalue().count("\n") == 1
