"""A study with two primary image sets (a replacement group), the CLI against it over both transports, and
checks of the store: every series of the study in a primary image set, nothing held only by image sets
being deleted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.replaceenv import (
    DS,
    LOCK,
    NEW,
    OLD,
    OTHER,
    STUDY,
    Env,
    X,
    Y,
    deleting,
    document,
    in_study,
    instances,
    seeded_env,
)

X2 = "d" * 32  # the second primary image set of the study (series 1.2.840.78.*)
Z = "9" * 32  # a third primary of the study, added by some tests
MEMBERS = (X2, X) if X2 < X else (X, X2)
INSTANCES = instances(document()) | instances(document(first=78))
SELECT = (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n  select:\n"
          f"    DICOMStudyInstanceUID: {STUDY}\nreplace: allow\ndesired:\n  Patient:\n    DICOM:\n"
          f"      PatientName: {NEW}\n")


def seed(store_dir: Path) -> None:
    store = Store(store_dir)
    store.ensure_datastore(DS, "group")
    store.put_image_set(DS, X, document())
    store.put_image_set(DS, X2, document(first=78))
    store.put_image_set(DS, Y, document(OTHER, first=76))


def add_third_primary(env: Env, name: str = OLD) -> None:
    """Another primary image set of the study (series 1.2.840.79.*), as a new import would make."""
    Store(env.store).put_image_set(DS, Z, document(name=name, first=79), now=time.time())


def primaries(env: Env) -> list[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(image set ID, PatientName, instances) of every live primary image set of the study."""
    return sorted((r.image_set_id, d["Patient"]["DICOM"]["PatientName"], instances(d)) for r, d in in_study(env)
                  if r.is_primary and not deleting(r))


def held_by_primaries(env: Env) -> frozenset[tuple[str, str]]:
    return frozenset().union(*(i for _id, _name, i in primaries(env)))


def assert_nothing_lost(env: Env, expected: frozenset[tuple[str, str]] = INSTANCES) -> None:
    held = frozenset().union(*(instances(d) for r, d in in_study(env) if not deleting(r)))
    assert held >= expected, sorted(expected - held)


def assert_group_replaced(env: Env) -> list[str]:
    """Two primaries, new IDs, the new name, every instance; no copy left. Returns their IDs."""
    live = [(r, d) for r, d in in_study(env) if not deleting(r)]
    assert all(r.is_primary for r, _ in live), [(r.image_set_id, r.is_primary) for r, _ in live]
    found = primaries(env)
    assert len(found) == 2 and {name for _i, name, _s in found} == {NEW}, found
    assert held_by_primaries(env) == INSTANCES
    ids = [i for i, _n, _s in found]
    assert not set(ids) & {X, X2}
    return ids


@pytest.fixture(params=["local", "http"])
def genv(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The seeded two-primary study, the CLI in process (``--local``) or against ``emulator serve``."""
    with seeded_env(request.param, tmp_path, monkeypatch, seed, EmulatorConfig(lock_seconds=LOCK)) as seeded:
        yield seeded



