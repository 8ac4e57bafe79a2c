"""Apply journals under an S3 prefix (``apply --journal s3://BUCKET/PREFIX/``), for CI runners that do not
keep a local folder between runs.

- ``read_journals``: the journals stored under the prefix, for ``reconciler.apply.ledger`` to fold with the
  local ones, so that a re-run on a fresh runner finishes a replacement an earlier run left half-way.
  What cannot be listed or read is a warning naming the URL; the run goes on with what it has.
- ``StepUploader``: while apply runs, the local journal is uploaded to its S3 key (the same key, overwritten)
  after each record of a replacement step, so that a run killed mid-replacement leaves S3 holding its
  records up to the last step. Ordinary updates are uploaded when apply ends, as before.

S3 ``ListObjectsV2`` returns keys in UTF-8 binary order
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), and the journal names carry
their UTC start time, so the last keys listed are the newest journals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.persist import Storage

MAX_LISTED = 10_000  # keys listed under the prefix (one journal per apply run)
MAX_READ = 200  # the newest journals read of those

Warn = Callable[[str], None]


def read_journals(prefix_url: str, storage: Storage, warn: Warn, *,
                  skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(URL, text) of the newest ``.jsonl`` journals under PREFIX_URL whose names are not in SKIP (the local
    copies, which are at least as recent)."""
    try:
        urls, more = storage.list_keys(prefix_url, max_keys=MAX_LISTED)
    except ReconcilerError as exc:
        warn(f"cannot list the journals under {prefix_url} ({exc.message}); replacements they may show "
             "half-done are not continued from them")
        return []
    urls = [u for u in urls if u.endswith(".jsonl") and u.rsplit("/", 1)[-1] not in skip]
    if more or len(urls) > MAX_READ:
        warn(f"more than {MAX_READ} journals under {prefix_url}: only the newest {MAX_READ} are read "
             "(move older ones elsewhere)")
        urls = urls[-MAX_READ:]
    out = []
    for url in urls:
        try:
            body, _etag = storage.read(url, what="journal")
            out.append((url, body.decode("utf-8")))
        except (ReconcilerError, UnicodeDecodeError) as exc:
            reason = exc.message if isinstance(exc, ReconcilerError) else "not UTF-8 text"
            warn(f"cannot read the journal {url} ({reason}); it is left out")
    return out


class StepUploader:
    """``Journal(on_record=...)``: after each replacement step record, upload the local journal to its key
    under the prefix. A failed upload is a warning (once per message); the apply goes on."""

    def __init__(self, local: Path, prefix_url: str, storage: Storage, warn: Warn, steps: frozenset[str]) -> None:
        self.local, self.prefix_url, self.storage, self.warn, self.steps = local, prefix_url, storage, warn, steps
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def __call__(self, record: dict[str, Any]) -> None:
        if record.get("event") not in self.steps and not record.get("replacedBy"):
            return
        with self._lock:  # the file is read inside: a later upload never holds fewer records
            try:
                self.storage.upload(self.local, self.prefix_url)
            except ReconcilerError as exc:
                if exc.message not in self._warned:
                    self._warned.add(exc.message)
                    self.warn(f"cannot upload the journal to {self.prefix_url} after a replacement step "
                              f"({exc.message}); the apply goes on, and the journal is uploaded again at the end")

