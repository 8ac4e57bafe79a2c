"""The rates learned per account, region and operation, kept between runs in a small file.

A run that learned an operation's rate (``reconciler.adaptive``) saves it here, and the next run against
the same account and region starts from it instead of the documented quota. The file sits beside the
apply journals (``.reconciler/rates.json``; ``RECONCILER_RATES_FILE`` moves it, ``off`` turns it off),
mode 0600, and holds account IDs, regions or endpoint URLs, operation names and rates: no patient data.
A file that cannot be read is ignored (the documented quotas are used) and replaced on the next save.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.persist import write_local

ENV = "RECONCILER_RATES_FILE"
DEFAULT_PATH = Path(".reconciler") / "rates.json"
FORMAT_VERSION = "1"
log = logging.getLogger(__name__)


def rates_path() -> Path | None:
    """Where learned rates are kept: ``RECONCILER_RATES_FILE``, else ``.reconciler/rates.json``; None when
    the variable is ``off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else DEFAULT_PATH


def read_all(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every account's entries in PATH ({} when it is missing or unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("learned rates %s: not readable (%s); the documented quotas are used", path, type(exc).__name__)
        return {}
    accounts = doc.get("accounts") if isinstance(doc, dict) else None
    return accounts if isinstance(accounts, dict) else {}


def recall(path: Path, key: str) -> dict[str, float]:
    """The rate learned for each operation of KEY (an account and region, or an endpoint and region)."""
    entries = read_all(path).get(key)
    if not isinstance(entries, dict):
        return {}
    out: dict[str, float] = {}
    for op, entry in entries.items():
        rate = entry.get("rate") if isinstance(entry, dict) else None
        if isinstance(rate, int | float) and rate > 0:
            out[str(op)] = float(rate)
    return out


def remember(path: Path, key: str, rates: Mapping[str, float], now: datetime | None = None) -> None:
    """Save RATES for KEY into PATH (other keys and operations kept), atomically, mode 0600."""
    if not rates:
        return
    accounts = read_all(path)
    entries = accounts.get(key) if isinstance(accounts.get(key), dict) else {}
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = dict(entries or {}) | {op: {"rate": round(rate, 6), "learned_at": stamp} for op, rate in rates.items()}
    accounts[key] = entries
    text = json.dumps({"format_version": FORMAT_VERSION, "accounts": accounts}, indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_local(path, [text.encode("utf-8")])


class RateMemory:
    """The learned rates of one backend: read once on first use, saved at the end of the run.

    KEY names the backend (None when it cannot be known, e.g. STS unreachable: then nothing is read or
    saved). Thread-safe.
    """

    def __init__(self, path: Path | None, key: Callable[[], str | None]) -> None:
        self.path = path
        self._key = key
        self._resolved: tuple[str | None] | None = None
        self._rates: dict[str, float] | None = None
        self._lock = threading.Lock()

    def key(self) -> str | None:
        with self._lock:
            if self._resolved is None:
                try:
                    self._resolved = (self._key(),)
                except Exception as exc:  # e.g. STS refused: learning still works, it is just not kept
                    log.warning("learned rates: the account is unknown (%s); not read or saved", type(exc).__name__)
                    self._resolved = (None,)
            return self._resolved[0]

    def recall(self) -> dict[str, float]:
        """The learned rate of each operation for this backend ({} when none)."""
        if self.path is None:
            return {}
        if self._rates is None:
            key = self.key() if self.path.exists() else None
            self._rates = recall(self.path, key) if key is not None else {}
        return dict(self._rates)

    def remember(self, rates: Mapping[str, float]) -> bool:
        """Save RATES for this backend; False when there is nowhere to (no file, or no key)."""
        key = self.key() if self.path is not None and rates else None
        if self.path is None or key is None:
            return False
        try:
            remember(self.path, key, rates)
        except OSError as exc:
            log.warning("learned rates %s: not saved (%s)", self.path, type(exc).__name__)
            return False
        return True
