"""Redaction of patient-identifying values (DICOM PS3.15 Annex E) in every output format.

A value is replaced by ``<redacted:HASH>``: the first 8 hex digits of HMAC-SHA256 under a key that is
random per run (or ``RECONCILER_REDACTION_KEY`` when set, for output that must compare across runs).
Equal values give equal hashes, so a reviewer sees *that* a value changed, never what it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from reconciler.dicom.phi import is_phi

ENV_KEY = "RECONCILER_REDACTION_KEY"


class Redactor:
    """Turns raw values into what may be shown. ``show_phi=True`` shows everything (local use)."""

    def __init__(self, show_phi: bool = False, key: bytes | None = None) -> None:
        env = os.environ.get(ENV_KEY)
        self.show_phi = show_phi
        self._key = key if key is not None else (env.encode() if env else os.urandom(32))

    def token(self, value: Any) -> str:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return f"<redacted:{hmac.new(self._key, data, hashlib.sha256).hexdigest()[:8]}>"

    def value(self, key: str, value: Any) -> Any:
        """``value`` of attribute ``key`` as it may be shown; sequences are redacted item by item."""
        if self.show_phi or value is None:
            return value
        if is_phi(key):
            return self.token(value)
        if isinstance(value, list):
            return [self._item(v) for v in value]
        return value

    def _item(self, item: Any) -> Any:
        if isinstance(item, Mapping):
            return {k: self.value(str(k), v) for k, v in item.items()}
        return item

    def label(self, key: str, text: str | None) -> str | None:
        """An identifier such as a StudyInstanceUID used as a heading: redacted when ``key`` is PHI."""
        if text is None or self.show_phi or not is_phi(key):
            return text
        return self.token(text)
