"""SIGINT and SIGTERM during `apply`: the command's handlers only record a stop request, then step aside."""

from __future__ import annotations

import signal
import threading

import pytest

from reconciler.apply.cancel import Cancellation
from reconciler.commands._common import stop_on_signals

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signal handlers are installed from the main thread only")


def test_a_first_signal_stops_sending_and_a_second_aborts() -> None:
    cancel = Cancellation()
    with stop_on_signals(cancel):
        signal.raise_signal(signal.SIGTERM)  # a real signal to this process: it is not ended
        assert (cancel.requested, cancel.aborted, cancel.reason) == (True, False, "SIGTERM")
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt either
        assert (cancel.aborted, cancel.last_reason) == (True, "SIGINT")


def test_the_previous_handlers_are_restored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals(Cancellation()):
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_outside_the_main_thread_nothing_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def body() -> None:
        with stop_on_signals(Cancellation()):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]
