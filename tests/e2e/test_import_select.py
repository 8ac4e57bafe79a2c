"""`import --target-by study` writes a ``select`` target (DICOMStudyInstanceUID) instead of the image set
ID, so the spec keeps finding its image set after a replacement promotes a copy under a new ID; over both
transports. A study that holds other image sets is refused, before anything is written."""

from __future__ import annotations

import argparse
import io
import re

from reconciler.cli import build_parser, main
from reconciler.commands._common import Streams
from reconciler.spec.loader import load_text
from tests.support.primaryenv import DS, OTHER, SECRET, STUDY, A, B, D, Env, N, env

__all__ = ["env"]  # the fixture


def test_a_study_target_is_written_validates_and_plans_empty(env: Env) -> None:
    code, _, err = env.cli("import", "--datastore-id", DS, "--image-set-id", D, "--target-by", "study",
                           "--out", "specs")
    assert code == 0, err
    text = (env.root / "specs" / f"{D}.yaml").read_text()
    (doc,), problems = load_text(text, "spec")
    assert not problems
    assert doc.value["target"] == {"datastoreId": DS, "select": {"DICOMStudyInstanceUID": OTHER}}
    assert "imageSetId" not in text and "a replacement gives it a new image set ID" in text

    out_s, err_s = io.StringIO(), io.StringIO()
    code = main(["validate", "specs"], Streams(out=out_s, err=err_s, inp=None))
    assert code == 0, out_s.getvalue() + err_s.getvalue()
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes. Live metadata matches the specs." in out
    assert "0 to update, 1 unchanged, 0 with errors" in out


def test_a_study_with_other_image_sets_is_refused_and_nothing_written(env: Env) -> None:
    code, _, err = env.cli("import", "--datastore-id", DS, "--select", "DICOMPatientId=P1", "--target-by", "study",
                           "--out", "specs")
    assert code == 1
    found = re.search(rf"image set (\w+) \(datastore {DS}\): a select by DICOMStudyInstanceUID also finds "
                      r"(\w+), (\w+); nothing written", err)
    assert found is not None, err
    assert sorted(found.groups()) == [A, B, N]  # the study's three image sets: one named, two it would also find
    assert "--target-by image-set-id" in err
    assert list((env.root / "specs").iterdir()) == []  # checked before any file is written
    assert STUDY not in err and SECRET not in err  # IDs and the key, never the UID or a value


def test_the_default_still_targets_the_image_set_id(env: Env) -> None:
    code, out, err = env.cli("import", "--datastore-id", DS, "--image-set-id", D)
    assert code == 0, err
    (doc,), _ = load_text(out, "stdout")
    assert doc.value["target"] == {"datastoreId": DS, "imageSetId": D}


def test_help_explains_the_choice() -> None:
    (subs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    text = " ".join(subs.choices["import"].format_help().split())
    assert "--target-by {image-set-id,study}" in text
    assert "study (target.select.DICOMStudyInstanceUID)" in text and "new image set ID" in text
