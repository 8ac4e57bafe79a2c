"""`reconciler adt listen` as a process, over a real MLLP socket on 127.0.0.1 (ephemeral ports): ACK codes, the
spec on disk when the ACK arrives (also after a kill -9 right after it), duplicates written once, and SIGTERM
finishing the message in hand. No test waits on time: each waits for a line, an ACK or a process exit, and
the SIGTERM test holds the listener mid-message with a gate in front of the emulator that the test opens."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.adtenv import DS, SECRET_NAME, document, hl7, seed
from tests.support.backends import start_server
from tests.support.forked import PREFIX, ForkedReconciler

P1 = "1" * 32
GUARD = 120  # seconds: only a hang guard, never what a test waits for


class Listener:
    """A running `reconciler adt listen`, its stderr lines queued."""

    def __init__(self, tmp_path: Path, backend: list[str]) -> None:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        env.pop("RECONCILER_LOCAL", None)
        self.specs = tmp_path / "specs"
        self.proc = ForkedReconciler(
            [*PREFIX, "adt", "listen", "--specs", str(self.specs), "--datastore-id", DS,
             "--port", "0", *backend], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=tmp_path)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        first = self.proc.stdout.readline()
        assert first.startswith("listening on mllp://127.0.0.1:"), first + self.proc.stderr.read()
        self.port = int(first.rsplit(":", 1)[1])
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str) -> list[str]:
        seen = []
        while True:
            line = self.lines.get(timeout=GUARD)
            seen.append(line)
            assert line, f"the listener ended before saying {text!r}: {seen}"
            if text in line:
                return seen

    def send(self, message: str, conn: socket.socket | None = None) -> str:
        own = conn is None
        conn = conn or socket.create_connection(("127.0.0.1", self.port), timeout=GUARD)
        try:
            conn.sendall(b"\x0b" + message.encode() + b"\x1c\r")
            return read_block(conn)
        finally:
            if own:
                conn.close()

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=GUARD)
        rest = []
        while (line := self.lines.get(timeout=GUARD)) != "":
            rest.append(line)
        return code, "".join(rest)


def read_block(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a whole ACK: {data!r}"
        data += chunk
    assert data.startswith(b"\x0b")
    return data[1:-2].decode()


def segments(ack: str) -> dict[str, list[str]]:
    return {s.split("|")[0]: s.split("|") for s in ack.strip("\r").split("\r")}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return seed(tmp_path / "store", {P1: document("P1", "1.2.1", 1)})


@pytest.fixture
def listener(tmp_path: Path, store: Path) -> Iterator[Listener]:
    running = Listener(tmp_path, ["--local", str(store)])
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def test_aa_after_the_spec_is_on_disk(listener: Listener) -> None:
    ack = segments(listener.send(hl7("A08", "LIS001", pid3="P1", name=SECRET_NAME)))
    assert ack["MSA"][1:3] == ["AA", "LIS001"] and ack["MSH"][8] == "ACK^A08^ACK" and "ERR" not in ack
    (spec,) = listener.specs.glob("*.yaml")
    assert spec.name == "adt-A08-LIS001.yaml"
    assert yaml.safe_load(spec.read_text())["desired"]["Patient"]["DICOM"]["PatientName"] == SECRET_NAME
    code, err = listener.stop()
    assert code == 0 and "QQSECRET" not in err and "Traceback" not in err


def test_one_connection_carries_messages_one_after_another(listener: Listener) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=GUARD) as conn:
        for n in range(3):
            assert segments(listener.send(hl7("A08", f"SEQ{n}", pid3="P1", name=f"DOE^N{n}"), conn))["MSA"][2] == \
                f"SEQ{n}"
    (spec,) = listener.specs.glob("*.yaml")
    assert spec.name == "adt-A08-SEQ2.yaml" and "DOE^N2" in spec.read_text()


@pytest.mark.parametrize(("message", "code", "error"), [
    (hl7("A08", "BAD001", pid3="P1", dob="1980XX01", name=SECRET_NAME), "AE", "102"),
    (hl7("A40", "BAD002", pid3="P1", name=SECRET_NAME), "AE", "101"),
    (hl7("A08", "BAD006", pid3="P1", name=SECRET_NAME + "\\S\\X"), "AE", "102"),
    (hl7("A01", "BAD003", pid3="P1", name=SECRET_NAME), "AR", "201"),
    (hl7("A08", "BAD004", name=SECRET_NAME).replace("ADT^A08^ADT_A01", "ORU^R01^ORU_R01"), "AR", "200"),
    ("PID|1||P1||" + SECRET_NAME + "\r", "AR", "100"),
])
def test_a_message_that_cannot_become_a_spec_gets_ae_or_ar_and_changes_nothing(
        listener: Listener, message: str, code: str, error: str) -> None:
    ack = listener.send(message)
    found = segments(ack)
    assert found["MSA"][1] == code and found["ERR"][3].startswith(f"{error}^")
    assert "QQSECRET" not in ack and "P1" not in ack.replace("PID", "")
    assert list(listener.specs.glob("*.yaml")) == [] and not (listener.specs / ".adt-processed").exists()
    _, err = listener.stop()
    assert "QQSECRET" not in err


def test_the_same_control_id_twice_writes_once_and_acks_twice(listener: Listener) -> None:
    first = segments(listener.send(hl7("A08", "DUP001", pid3="P1", name="DOE^FIRST")))
    second = segments(listener.send(hl7("A08", "DUP001", pid3="P1", name="DOE^SECOND")))
    assert first["MSA"][1:3] == second["MSA"][1:3] == ["AA", "DUP001"]
    (spec,) = listener.specs.glob("*.yaml")
    assert "DOE^FIRST" in spec.read_text() and "DOE^SECOND" not in spec.read_text()
    assert (listener.specs / ".adt-processed").read_text().count("DUP001") == 1


def test_kill_9_right_after_the_ack_loses_nothing(tmp_path: Path, listener: Listener, store: Path) -> None:
    ack = segments(listener.send(hl7("A08", "KIL001", pid3="P1", name="DOE^KEPT")))
    listener.proc.kill()  # SIGKILL: no handler, no flush, no clean-up
    listener.proc.wait(timeout=GUARD)
    assert ack["MSA"][1] == "AA"
    (spec,) = listener.specs.glob("*.yaml")
    assert yaml.safe_load(spec.read_text())["desired"]["Patient"]["DICOM"]["PatientName"] == "DOE^KEPT"
    again = Listener(tmp_path, ["--local", str(store)])  # the sender resends what it may not have seen acked
    try:
        assert segments(again.send(hl7("A08", "KIL001", pid3="P1", name="DOE^KEPT")))["MSA"][1] == "AA"
        again.wait_for("KIL001: already processed")
        assert again.stop()[0] == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()


class Gate:
    """A TCP relay in front of the emulator that holds the first request until ``release``."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.arrived, self.release = threading.Event(), threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        first = client.recv(65536)
        self.arrived.set()
        self.release.wait()
        upstream.sendall(first)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def test_sigterm_stops_accepting_and_finishes_the_message_in_hand(tmp_path: Path, store: Path) -> None:
    server, thread, url = start_server(store, EmulatorConfig())
    gate = Gate(url)
    running = Listener(tmp_path, ["--endpoint-url", gate.url])
    try:
        result: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: result.put(running.send(hl7("A08", "TRM001", pid3="P1"))),
                         daemon=True).start()
        assert gate.arrived.wait(GUARD)  # the listener is processing the message, held at its first request
        running.proc.send_signal(signal.SIGTERM)
        running.wait_for("SIGTERM: no new connections")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", running.port), timeout=GUARD)
        gate.release.set()
        assert segments(result.get(timeout=GUARD))["MSA"][1:3] == ["AA", "TRM001"]
        assert running.proc.wait(timeout=GUARD) == 0
        assert [p.name for p in running.specs.glob("*.yaml")] == ["adt-A08-TRM001.yaml"]
    finally:
        gate.release.set()
        if running.proc.poll() is None:
            running.proc.kill()
        gate.server.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=GUARD)
