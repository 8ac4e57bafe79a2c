"""Redaction of patient data in every output (text, JSON, markdown), one rule grounded in DICOM PS3.15
Annex E, Table E.1-1 (https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chap_E.html):

- A UID of the table (StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, ...: VR UI, action ``U``,
  "replace with a non-zero length UID that is internally consistent within a set of Instances") is
  shown as ``uid:HASH``: as a value, as a series or instance key in a path
  (``Study.Series[uid:HASH].Instances[uid:HASH]``) and as a study label. Equal UIDs give equal hashes.
- Every other attribute of the table (and private tags and unknown keys: it fails closed) is shown as
  ``<redacted:HASH>``.

HASH is the first 8 hex digits of HMAC-SHA256 over the value's canonical JSON, under
``RECONCILER_REDACTION_KEY`` (stable across runs and machines: a PR comment matches the apply log), else
the user's own key (``reconciler.render.userkey``: stable on one machine), else a key random per run.
Equal values give equal hashes, so a reviewer sees *that* a value changed, never what it is. A saved
plan carries the hashes its values got (``fingerprints``), so ``show`` and ``apply`` print the plan's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.dicom.dictionary import lookup
from reconciler.dicom.phi import is_phi
from reconciler.errors import UsageError
from reconciler.padding import unpad

ENV_KEY = "RECONCILER_REDACTION_KEY"
MIN_KEY_LENGTH = 32  # `openssl rand -hex 32` gives 64; a short key could be guessed from the hashes
# Study.Series.<SeriesInstanceUID>.Instances.<SOPInstanceUID>: (index of the UID, the key before it)
_UID_SLOTS = ((2, "Series"), (4, "Instances"))
# a path in a message, as ``spec.model.format_path`` writes it: series and instance UIDs in brackets
_BRACKETED_UID = re.compile(r"\b(Series|Instances)\[([^\]\s]+)\]")


def unkeyed_note(reason: str) -> str:
    """What a run says once when it has to make a key of its own (REASON: why no key could be kept)."""
    return (f"note: fingerprints (<redacted:HASH>, uid:HASH) use a key made for this run, since {reason}: they "
            f"will not match those of another run; set {ENV_KEY} to make them stable (see the README)")


def shared_output(fmt: str | None) -> str | None:
    """Why output in format FMT would usually be read by others, or None: markdown is made for a
    pull-request comment, and CI (``CI=true``: GitHub Actions, GitLab CI/CD) keeps job logs."""
    if fmt == "markdown":
        return "--format markdown would put patient data in output made for a pull-request comment"
    if (os.environ.get("CI") or "").strip().lower() in ("true", "1", "yes"):
        return "in CI (CI=true) it would put patient data in a job log or a pull-request comment"
    return None


def env_key() -> bytes | None:
    """The operator's key from the environment, or None. A key too short to keep secret is refused."""
    text = os.environ.get(ENV_KEY)
    if not text:
        return None
    if len(text) < MIN_KEY_LENGTH:
        raise UsageError(
            f"{ENV_KEY} is too short ({len(text)} characters, at least {MIN_KEY_LENGTH}): a short key could be "
            "guessed from the fingerprints it makes, and the values with it",
            hint="generate one with `openssl rand -hex 32` and keep it in a CI secret",
        )
    return text.encode()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(value: Any) -> str:
    """The unkeyed sha256 of a value's canonical JSON: how a saved plan's fingerprints are looked up."""
    return hashlib.sha256(_canonical(value)).hexdigest()


def is_uid_key(key: str) -> bool:
    """Whether values of KEY are UIDs of Table E.1-1 (shown as ``uid:HASH``)."""
    entry = lookup(key)
    return entry is not None and entry.vr == "UI" and is_phi(key)


def _clean_uid(uid: Any) -> Any:
    return unpad(uid) if isinstance(uid, str) else uid  # UI pads with NUL (PS3.5 section 6.2)


class Redactor:
    """Turns raw values into what may be shown. ``show_phi=True`` shows everything (local use).

    ``key``: the HMAC key (default: ``RECONCILER_REDACTION_KEY``, else random per run; the CLI passes the
    user's key when there is no RECONCILER_REDACTION_KEY). ``fingerprints``:
    hashes already given to values (``digest -> HASH``, from a saved plan); they win over the key.
    ``on_unkeyed`` is called once, when the first hash under a random key is made.
    """

    def __init__(
        self, show_phi: bool = False, key: bytes | None = None, *,
        fingerprints: Mapping[str, str] | None = None, on_unkeyed: Callable[[], None] | None = None,
    ) -> None:
        self.show_phi = show_phi
        operator_key = key if key is not None else env_key()
        self.keyed = operator_key is not None
        self._key = operator_key if operator_key is not None else os.urandom(32)
        self._known: dict[str, str] = dict(fingerprints or {})
        self._on_unkeyed = on_unkeyed
        self._touched: dict[str, str] | None = None

    def learn(self, fingerprints: Mapping[str, str]) -> None:
        """Use the hashes a saved plan's values got (so its values are shown as the plan showed them)."""
        self._known.update(fingerprints)

    def probe(self) -> Redactor:
        """A redactor with this one's key and hashes that never shows PHI and records every hash it
        gives (``touched``): what a saved plan stores. It says nothing about the key: it shows nothing."""
        probe = Redactor(key=self._key, fingerprints=self._known)
        probe.keyed = self.keyed
        probe._touched = {}
        return probe

    def touched(self) -> dict[str, str]:
        return dict(self._touched or {})

    def fingerprint(self, value: Any) -> str:
        """The 8 hex digits for VALUE: the saved plan's, else HMAC-SHA256 under the key."""
        d = digest(value)
        found = self._known.get(d)
        if found is None:
            found = hmac.new(self._key, _canonical(value), hashlib.sha256).hexdigest()[:8]
            self._known[d] = found
            if not self.keyed and self._on_unkeyed is not None:
                self._on_unkeyed()
                self._on_unkeyed = None  # once per run
        if self._touched is not None:
            self._touched[d] = found
        return found

    def token(self, value: Any) -> str:
        return f"<redacted:{self.fingerprint(value)}>"

    def uid(self, uid: str) -> str:
        """A UID as it may be shown: ``uid:HASH`` unless --show-phi."""
        return uid if self.show_phi else f"uid:{self.fingerprint(_clean_uid(uid))}"

    def value(self, key: str, value: Any) -> Any:
        """``value`` of attribute ``key`` as it may be shown; sequences are redacted item by item."""
        if self.show_phi or value is None:
            return value
        if is_uid_key(key):  # UI may be multi-valued (a list of UIDs)
            return [self._uid_value(v) for v in value] if isinstance(value, list) else self._uid_value(value)
        if is_phi(key):
            return self.token(value)
        if isinstance(value, list):
            return [self._item(v) for v in value]
        return value

    def _uid_value(self, value: Any) -> str:
        return self.uid(value) if isinstance(value, str) else self.token(value)

    def _item(self, item: Any) -> Any:
        if isinstance(item, Mapping):
            return {k: self.value(str(k), v) for k, v in item.items()}
        return item

    def path(self, path: tuple[str, ...]) -> tuple[str, ...]:
        """PATH with its series and instance keys (SeriesInstanceUID, SOPInstanceUID) as ``uid:HASH``."""
        if self.show_phi:
            return path
        if not path or path[0] != "Study":
            return path
        out = list(path)
        for index, parent in _UID_SLOTS:
            if len(out) > index and out[index - 1] == parent:
                out[index] = self.uid(out[index])
        return tuple(out)

    def text(self, message: str) -> str:
        """A message (an error, a verify finding) with the UIDs of the paths it names as ``uid:HASH``."""
        if self.show_phi:
            return message
        return _BRACKETED_UID.sub(self._bracketed, message)

    def _bracketed(self, match: re.Match[str]) -> str:
        parent, uid = match.group(1), match.group(2)
        return f"{parent}[{uid if uid.startswith('uid:') else self.uid(uid)}]"

    def label(self, key: str, text: str | None) -> str | None:
        """An identifier such as a StudyInstanceUID used as a heading: redacted when ``key`` is PHI."""
        if text is None or self.show_phi or not is_phi(key):
            return text
        return self.uid(text) if is_uid_key(key) else self.token(text)
