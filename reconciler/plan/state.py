"""The drift state (``--state PATH|s3://bucket/key``): what earlier runs verified, so that a drift run
reads metadata only for the image sets that may have changed since.

Per image set it keeps the version last verified in sync, a keyed digest of the desired subtree it was
verified against, when that was, and a keyed digest of its StudyInstanceUID (a new image set of the same
study may be its replacement under a new ID). Per datastore it keeps the time as of which those versions
were known to be the latest: the next run asks the service what changed since then. Per ``select``
target it keeps the image sets the selector found, so that one it loses or gains is reported.

Nothing in it can be checked against a guessed patient value: every digest is keyed (BLAKE2b's keyed
mode, a MAC) with a secret that is not stored in the state (``RECONCILER_STATE_KEY``, else
``RECONCILER_REDACTION_KEY``; at least 32 characters). A digest salted with a value kept in the state
would not do: whoever reads the state could test guesses of a patient name against it. A MAC over the
whole file under the same secret makes an edited state (say, a version raised to hide drift) unusable,
and a check value of the key tells a state written under another key apart from a corrupt one.

The file is JSON lines, read one line at a time (memory grows with the entries kept, not with the file):
a header object, then ``["d", datastore, checked_at]``, ``["i", datastore, image set, version, digest,
verified_at, checked_at or null, study digest or null]`` and ``["s", selector digest, datastore, [IDs]]``
rows, and last ``["mac", hex]`` over every byte before it. It is read and written through
``reconciler.persist.Storage``: locally a temporary file (mode 0600) renamed over the old one; in S3 one put,
encrypted as saved plans are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from reconciler import __version__
from reconciler.api import BackendIdentity
from reconciler.errors import PlanFileError, StorageNotFound, UsageError
from reconciler.persist import Storage, is_s3

FORMAT = "reconciler-drift-state"
FORMAT_VERSION = 1
KEY_ENV = "RECONCILER_STATE_KEY"
FALLBACK_KEY_ENV = "RECONCILER_REDACTION_KEY"
MIN_KEY_LENGTH = 32  # as for RECONCILER_REDACTION_KEY: a short key could be guessed from the digests
_DOMAIN = b"reconciler drift state v1"
_DIGEST_HEX = 32  # 128 bits: collisions are out of reach, and 100,000 entries stay small


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # built once: a fleet
_ROW = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # of 100,000 is encoded per run


class StateKey:
    """The secret behind every digest in a state. Never stored, never logged."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, _DOMAIN, hashlib.sha256).digest()  # apart from redaction tokens

    def digest(self, value: Any) -> str:
        """A keyed digest of a JSON value (canonical form: sorted keys, no spaces): BLAKE2b in its keyed mode,
        a MAC by design (https://www.blake2.net/blake2.pdf, section 2.9) and fast enough for a fleet."""
        data = _CANONICAL.encode(value).encode()
        return hashlib.blake2b(data, key=self._key, digest_size=_DIGEST_HEX // 2).hexdigest()

    def mac(self) -> Any:
        """A fresh MAC object for a whole file (``update`` line by line, ``hexdigest`` at the end)."""
        return hmac.new(self._key, b"state file\0", hashlib.sha256)

    @property
    def check(self) -> str:
        """Tells which key wrote a state without revealing the key (an HMAC of a constant)."""
        return hmac.new(self._key, b"key check", hashlib.sha256).hexdigest()[:16]


def key_from_env(environ: Mapping[str, str] | None = None) -> StateKey:
    """The state key from the environment; UsageError when there is none or it is too short to be secret."""
    env = os.environ if environ is None else environ
    name = KEY_ENV if env.get(KEY_ENV) else FALLBACK_KEY_ENV
    secret = env.get(name) or ""
    if not secret:
        raise UsageError(
            f"--state needs a secret key in {KEY_ENV} (or {FALLBACK_KEY_ENV})",
            hint="the state keeps keyed digests of the desired metadata, so that nothing in it can be checked "
            "against guessed patient values; give every job that uses the state the same secret of at least "
            f"{MIN_KEY_LENGTH} characters",
        )
    if len(secret) < MIN_KEY_LENGTH:
        raise UsageError(f"{name} is shorter than {MIN_KEY_LENGTH} characters: too easy to guess for --state")
    return StateKey(secret.encode())


@dataclass(frozen=True)
class Entry:
    """One image set as last verified in sync."""

    version: str
    digest: str  # keyed digest of the merged desired subtree it was verified against
    verified_at: float  # epoch seconds: when its metadata was last read and found in sync
    checked_at: float | None = None  # ``version`` was the latest at this time; None: the datastore's time
    study: str | None = None  # keyed digest of its StudyInstanceUID


@dataclass
class DriftState:
    """The state of one backend."""

    backend: BackendIdentity
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    checked: dict[str, float] = field(default_factory=dict)  # datastore -> versions known latest as of
    selectors: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)  # digest -> (ds, IDs)
    written_at: float | None = None

    def checked_at(self, datastore_id: str, entry: Entry) -> float:
        """As of when ENTRY's version was known to be the latest (0: never, so searched from the start)."""
        return entry.checked_at if entry.checked_at is not None else self.checked.get(datastore_id, 0.0)


@dataclass(frozen=True)
class Loaded:
    """What opening a state found: a state, or None with ``problem`` saying why not (a warning: the run reads
    everything), or None without a problem for a state that does not exist yet."""

    state: DriftState | None
    problem: str | None = None

    @property
    def status(self) -> str:
        if self.state is not None:
            return "used"
        return "missing" if self.problem is None else "unusable"


def lines(state: DriftState, key: StateKey) -> Iterator[bytes]:
    """The file, line by line (each ends in a newline), the MAC line last."""
    mac = key.mac()
    b = state.backend
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "tool_version": __version__,
              "written_at": state.written_at, "key_check": key.check,
              "backend": {"kind": b.kind, "location": b.location, "account": b.account}}
    for row in _with_header(header, _rows(state)):
        line = _ROW.encode(row).encode() + b"\n"
        mac.update(line)
        yield line
    yield json.dumps(["mac", mac.hexdigest()]).encode() + b"\n"


def _with_header(header: dict[str, Any], rows: Iterable[Any]) -> Iterator[Any]:
    yield header
    yield from rows


def _rows(state: DriftState) -> Iterator[list[Any]]:
    for ds, at in sorted(state.checked.items()):
        yield ["d", ds, round(at, 3)]
    for (ds, iset), e in state.entries.items():
        checked = None if e.checked_at is None else round(e.checked_at, 3)
        yield ["i", ds, iset, e.version, e.digest, round(e.verified_at, 3), checked, e.study]
    for digest, (ds, ids) in sorted(state.selectors.items()):
        yield ["s", digest, ds, sorted(ids)]


def parse(stream: IO[bytes], key: StateKey, location: str) -> tuple[DriftState | None, str | None]:
    """(state, None), or (None, what is wrong) for a state that cannot be trusted. Reads line by line."""
    mac = key.mac()
    first = stream.readline()
    mac.update(first)
    try:
        header = json.loads(first)
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None, f"{location} is not a drift state of the reconciler"
    if header.get("format_version") != FORMAT_VERSION:
        return None, (f"{location} has state format version {header.get('format_version')!r}; this reconciler "
                      f"reads version {FORMAT_VERSION}")
    if header.get("key_check") != key.check:
        return None, f"{location} was written with another state key"
    try:
        state = DriftState(_backend(header["backend"]), written_at=header.get("written_at"))
        for line in stream:
            row = json.loads(line.decode())  # a str: no encoding detection per line
            if row[0] == "mac":
                if not hmac.compare_digest(str(row[1]), mac.hexdigest()) or stream.read(1):
                    return None, f"{location} was modified after it was written (its MAC does not match)"
                break
            mac.update(line)
            _add(state, row)
        else:
            return None, f"{location} is truncated (no MAC line)"
    except (KeyError, TypeError, ValueError, IndexError, UnicodeDecodeError):
        return None, f"{location} is corrupt"
    if header.get("tool_version") != __version__:
        return None, (f"{location} was written by reconciler {header.get('tool_version')} and this is "
                      f"{__version__}: what counts as in sync may differ")
    return state, None


def _backend(b: Any) -> BackendIdentity:
    if b["kind"] not in ("local", "endpoint", "aws"):
        raise ValueError("backend")
    account = b.get("account")
    return BackendIdentity(b["kind"], str(b["location"]), None if account is None else str(account))


def _add(state: DriftState, row: list[Any]) -> None:
    kind = row[0]
    if kind == "d":
        state.checked[str(row[1])] = float(row[2])
    elif kind == "i":
        _, ds, iset, version, digest, verified, checked, study = row
        if not all(isinstance(v, str) for v in (ds, iset, version, digest)) or not (
                study is None or isinstance(study, str)):
            raise ValueError("entry")
        state.entries[(sys.intern(ds), iset)] = Entry(version, digest, float(verified),
                                          None if checked is None else float(checked), study)
    elif kind == "s":
        state.selectors[str(row[1])] = (str(row[2]), frozenset(str(i) for i in row[3]))
    else:
        raise ValueError(kind)


class OtherBackend(PlanFileError):
    """The state was written for another backend than the one of this run."""


def load(location: str, key: StateKey, backend: BackendIdentity, storage: Storage) -> Loaded:
    """Open the state at LOCATION for BACKEND.

    A state that does not exist yet, or cannot be trusted (corrupt, edited, another key or tool version),
    is a Loaded without state: the run reads everything and writes a fresh one. A state of another backend
    is a PlanFileError: it belongs to another service, and overwriting it would cost that one a full run.
    """
    try:
        with storage.open(location, what="drift state") as stream:
            state, problem = parse(stream, key, location)
    except StorageNotFound:
        return Loaded(None)
    except PlanFileError as exc:
        if is_s3(location):  # an object that fails the storage's integrity checks: not trusted
            return Loaded(None, exc.message)
        raise
    if state is None:
        return Loaded(None, problem)
    if state.backend != backend:
        raise OtherBackend(
            f"the drift state {location} was written for {state.backend.describe()}, but this run is against "
            f"{backend.describe()}; refused, nothing was read",
            hint="give each backend its own state, or pass --refresh to start this one afresh",
        )
    return Loaded(state)


def save(state: DriftState, location: str, key: StateKey, storage: Storage) -> None:
    """Write the state atomically: a local temporary file (0600) renamed over the old one, or one S3 put."""
    storage.write(location, lines(state, key), what="drift state")
