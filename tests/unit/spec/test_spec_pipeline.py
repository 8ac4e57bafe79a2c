"""load_specs / validate_text: the planner's entry point, layer 3 warnings, cross-document checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.spec import expand_paths, load_specs, validate_text
from reconciler.spec.model import Target

DS = "12345678901234567890123456789012"
IS1 = "ea92b0d8838c72a3f25d00d13616f87e"


def _doc(body: str, image_set: str = IS1, force: bool = False) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
        f"  imageSetId: {image_set}\nforce: {str(force).lower()}\ndesired:\n{body}"
    )


PATIENT = "  Patient:\n    DICOM:\n      PatientName: {}\n"
INSTANCE = (
    "  Study:\n    Series:\n      1.2.3:\n        Instances:\n          1.2.3.4:\n            DICOM:\n"
    "              {}\n"
)


def test_load_specs_builds_documents_with_desired_relative_positions(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(_doc(PATIENT.format("DOE^JANE")) + "---\n" + _doc(PATIENT.format("X"), image_set="b" * 32))
    docs, diags = load_specs([str(tmp_path)])
    assert diags == []
    assert [d.target for d in docs] == [Target(DS, IS1), Target(DS, "b" * 32)]
    assert docs[0].desired == {"Patient": {"DICOM": {"PatientName": "DOE^JANE"}}}
    assert (docs[0].line, docs[1].line, docs[1].index) == (1, 11, 1)  # line of its `---`
    assert docs[1].position(("Patient", "DICOM", "PatientName")).line == 21
    assert docs[0].force is False


def test_select_target(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
        "  select:\n    DICOMStudyId: 0042\ndesired: {}\n"
    )
    docs, diags = load_specs([str(f)])
    assert diags == [] and docs[0].target == Target(DS, None, ("DICOMStudyId", "0042"))


def test_documents_with_errors_are_left_out(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(_doc(PATIENT.format("A")) + "---\n" + _doc("  Patient:\n    DICOM:\n      PatientNmae: B\n"))
    docs, diags = load_specs([str(f)])
    assert len(docs) == 1 and [d.severity for d in diags] == ["error"]


def test_folders_expand_to_sorted_yaml_files(tmp_path: Path) -> None:
    for name in ["b.yml", "a.yaml", "sub/c.yaml", "notes.txt"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    files, diags = expand_paths([str(tmp_path)])
    assert [Path(f).relative_to(tmp_path).as_posix() for f in files] == ["a.yaml", "b.yml", "sub/c.yaml"]
    assert diags == []


@pytest.mark.parametrize("setup", ["missing", "empty-dir"])
def test_nothing_to_validate_is_an_error(tmp_path: Path, setup: str) -> None:
    target = tmp_path / "nope" if setup == "missing" else tmp_path
    _docs, diags = load_specs([str(target)])
    assert [d.severity for d in diags] == ["error"]


@pytest.mark.parametrize(
    ("line", "force", "fragment"),
    [
        ("SOPInstanceUID: 1.2.3.9", False, "needs `force: true` (SOPInstanceUID is an identifying attribute"),
        ("00091001: GE", False, "needs `force: true` (it is a private attribute)"),
        ("00091001: GE", True, "private tag without a VR"),
        ("ImageType: [ORIGINAL, PRIMARY]", False, "needs `force: true` (it is multi-valued)"),
    ],
)
def test_warnings(line: str, force: bool, fragment: str) -> None:
    found = validate_text(_doc(INSTANCE.format(line), force=force))
    assert {d.severity for d in found} == {"warning"}
    assert any(fragment in d.message for d in found)


def test_force_true_silences_force_warnings() -> None:
    assert validate_text(_doc(INSTANCE.format("SOPInstanceUID: 1.2.3.9"), force=True)) == []


def test_force_turns_a_vr_error_into_a_warning() -> None:
    body = "  Study:\n    DICOM:\n      StudyDate: 2024-01-01\n"
    assert [d.severity for d in validate_text(_doc(body))] == ["error"]
    assert [d.severity for d in validate_text(_doc(body, force=True))] == ["warning"]


def test_sequence_items_are_checked() -> None:
    body = "  Study:\n    DICOM:\n      ProcedureCodeSequence:\n        - CodeVaule: X\n"
    found = validate_text(_doc(body, force=True))
    assert any("did you mean `CodeValue`?" in d.message and d.line == 11 for d in found)


def test_conflict_across_files_names_both(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_doc(PATIENT.format("DOE^JANE")))
    (tmp_path / "b.yaml").write_text(_doc(PATIENT.format("DOE^JOHN")))
    docs, diags = load_specs([str(tmp_path)])
    assert len(docs) == 1 and len(diags) == 1
    d = diags[0]
    assert d.file.endswith("b.yaml") and d.line == 10
    assert f"{tmp_path / 'a.yaml'}:10" in d.message and "DOE" not in d.render()


@pytest.mark.parametrize(("a", "b"), [("DOE^JANE", "DOE^JANE"), ("DOE^JANE", "DOE^JANE^^"), ("'1'", "'1 '")])
def test_same_value_twice_is_fine(tmp_path: Path, a: str, b: str) -> None:
    (tmp_path / "a.yaml").write_text(_doc(PATIENT.format(a)))
    (tmp_path / "b.yaml").write_text(_doc(PATIENT.format(b)))
    assert load_specs([str(tmp_path)])[1] == []


def test_different_image_sets_do_not_conflict(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_doc(PATIENT.format("A")))
    (tmp_path / "b.yaml").write_text(_doc(PATIENT.format("B"), image_set="c" * 32))
    assert load_specs([str(tmp_path)])[1] == []


def test_removed_instance_conflicts_with_attributes_under_it(tmp_path: Path) -> None:
    removal = "  Study:\n    Series:\n      1.2.3:\n        Instances:\n          1.2.3.4: null\n"
    (tmp_path / "a.yaml").write_text(_doc(removal))
    (tmp_path / "b.yaml").write_text(_doc(INSTANCE.format("Rows: 5")))
    _docs, diags = load_specs([str(tmp_path)])
    assert len(diags) == 1 and "removes the series or instance" in diags[0].message


def test_removing_an_instance_an_earlier_document_sets_attributes_in_conflicts(tmp_path: Path) -> None:
    """The other order of the test above: the remover comes second and is still caught."""
    removal = "  Study:\n    Series:\n      1.2.3:\n        Instances:\n          1.2.3.4: null\n"
    (tmp_path / "a.yaml").write_text(_doc(INSTANCE.format("Rows: 5")))
    (tmp_path / "b.yaml").write_text(_doc(removal))
    _docs, diags = load_specs([str(tmp_path)])
    assert len(diags) == 1
    d = diags[0]
    assert d.file.endswith("b.yaml") and d.line == 12  # the removed instance, in both files
    assert f"{tmp_path / 'a.yaml'}:12, which sets attributes inside it for the same image set" in d.message


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ("  Study:\n    DICOM:\n      Series:\n        \"1.2\":\n          DICOM: {Modality: CT}\n",
         ("desired", "Study", "DICOM", "Series"), "`Series` belongs under Study, beside DICOM"),
        ("  Study:\n    DICOM:\n      Series: some text\n",
         ("desired", "Study", "DICOM", "Series"), "`Series` belongs under Study, beside DICOM"),
        ("  Study:\n    Series:\n      DICOM:\n        Modality: CT\n",
         ("desired", "Study", "Series", "DICOM"), "Series keys are SeriesInstanceUIDs"),
        ("  Patient:\n    DICOM:\n      DICOMVRs: {\"00091001\": LO}\n",
         ("desired", "Patient", "DICOM", "DICOMVRs"), "belongs beside this DICOM map, not inside it"),
    ],
)
def test_a_misplaced_key_gets_one_error_saying_where_it_belongs(body: str, path: tuple[str, ...],
                                                                 fragment: str) -> None:
    """Neither the schema's complaints about what is inside it nor a second layer's repeat it."""
    diags = validate_text(_doc(body))
    assert [(d.path, d.severity) for d in diags] == [(path, "error")], [d.render() for d in diags]
    assert fragment in diags[0].message
