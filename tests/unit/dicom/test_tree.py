"""dicom.tree: the one walk over Patient/Study/Series/Instances, and get/set/delete/rekey at a path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.dicom import tree
from reconciler.dicom.tree import MISSING, Node

S1, S2, I1, I2 = "1.2.1", "1.2.2", "1.2.1.1", "1.2.1.2"


def doc() -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1",
        "Patient": {"DICOM": {"PatientName": "A^B", "PatientID": "P1"}},
        "Study": {
            "DICOM": {"StudyDescription": "CHEST"},
            "Series": {
                S1: {"DICOM": {"Modality": "CT"}, "Instances": {
                    I1: {"DICOM": {"InstanceNumber": "1", "00091001": "x"}, "DICOMVRs": {"00091001": "LO"}},
                    I2: {"DICOM": {"InstanceNumber": "2"}},
                }},
                S2: {"DICOM": {"Modality": "MR"}},
            },
        },
    }


def test_walk_yields_every_level_parents_first() -> None:
    nodes = [(n.level, n.path) for n in tree.walk(doc())]
    assert nodes == [
        ("Patient", ("Patient",)),
        ("Study", ("Study",)),
        ("Series", ("Study", "Series", S1)),
        ("Instance", ("Study", "Series", S1, "Instances", I1)),
        ("Instance", ("Study", "Series", S1, "Instances", I2)),
        ("Series", ("Study", "Series", S2)),
    ]


def test_walk_follows_the_tree_key_order_at_the_top() -> None:
    d: dict[str, Any] = {"Study": {"DICOM": {}}, "Other": {}, "Patient": {}}
    assert [n.level for n in tree.walk(d)] == ["Study", "Patient"]


def test_walk_yields_odd_nodes_as_found_and_does_not_enter_them() -> None:
    d = {"Patient": None, "Study": {"Series": {S1: None, S2: ["not", "a", "node"]}}}
    assert [(n.level, n.value) for n in tree.walk(d)] == [
        ("Patient", None), ("Study", d["Study"]), ("Series", None), ("Series", ["not", "a", "node"])]
    assert [n.level for n in tree.walk({"Study": {"Series": "x"}})] == ["Study"]
    assert [n.level for n in tree.walk({"Study": "x"})] == ["Study"]


def test_descend_false_skips_the_children_of_that_node_only() -> None:
    seen = [n.path[-1] for n in tree.walk(doc(), descend=lambda n: n.path[-1] != S1)]
    assert seen == ["Patient", "Study", S1, S2]


def test_descend_is_asked_after_the_caller_handled_the_node() -> None:
    handled: list[str] = []
    asked: list[tuple[str, bool]] = []

    def descend(node: Node) -> bool:
        asked.append((node.path[-1], node.path[-1] in handled))
        return True

    for node in tree.walk(doc(), descend=descend):
        handled.append(node.path[-1])
    assert asked == [("Study", True), (S1, True), (S2, True)]  # only mappings at levels with children


def test_attributes_carry_level_path_and_the_sibling_vr() -> None:
    attrs = list(tree.all_attributes(doc()))
    assert [(a.level, a.key) for a in attrs] == [
        ("Patient", "PatientName"), ("Patient", "PatientID"), ("Study", "StudyDescription"),
        ("Series", "Modality"), ("Instance", "InstanceNumber"), ("Instance", "00091001"),
        ("Instance", "InstanceNumber"), ("Series", "Modality")]
    private = attrs[5]
    assert private.path == ("Study", "Series", S1, "Instances", I1, "DICOM", "00091001")
    assert (private.part, private.value, private.vr) == ("DICOM", "x", "LO")
    assert attrs[4].vr is None


def test_attributes_of_both_parts_dicom_first() -> None:
    node = Node("Instance", ("I",), {"DICOMVRs": {"00091001": "LO"}, "DICOM": {"00091001": "x"}})
    assert [(a.part, a.value, a.vr) for a in tree.attributes(node, tree.PARTS)] == [
        ("DICOM", "x", "LO"), ("DICOMVRs", "LO", None)]
    assert list(tree.attributes(Node("Patient", ("Patient",), {"DICOM": ["x"]}))) == []
    assert list(tree.attributes(Node("Patient", ("Patient",), None))) == []


def test_pair_attributes_compares_two_whole_documents() -> None:
    old, new = doc(), doc()
    new["Study"]["Series"][S2]["DICOM"]["Modality"] = "PT"
    del new["Patient"]["DICOM"]["PatientID"]
    new["Study"]["DICOM"]["AccessionNumber"] = "7"
    pairs = {p: (a, b) for p, a, b in tree.pair_attributes(old, new) if a != b}
    assert pairs == {
        ("Patient", "DICOM", "PatientID"): ("P1", MISSING),
        ("Study", "Series", S2, "DICOM", "Modality"): ("MR", "PT"),
        ("Study", "DICOM", "AccessionNumber"): (MISSING, "7"),
    }
    assert all(a == b for _p, a, b in tree.pair_attributes(doc(), doc()))


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (("Patient", "DICOM", "PatientName"), ("Patient", ("Patient",))),
        (("Study",), ("Study", ("Study",))),
        (("Study", "Series"), ("Study", ("Study",))),
        (("Study", "Series", S1), ("Series", ("Study", "Series", S1))),
        (("Study", "Series", S1, "DICOM", "Modality"), ("Series", ("Study", "Series", S1))),
        (("Study", "Series", S1, "Instances", I1, "DICOMVRs", "00091001"),
         ("Instance", ("Study", "Series", S1, "Instances", I1))),
        (("Patient", "Series", S1), ("Patient", ("Patient",))),
        (("SchemaVersion",), None),
        ((), None),
    ],
)
def test_locate_and_level_at(path: tuple[str, ...], found: Any) -> None:
    assert tree.locate(path) == found
    assert tree.level_at(path) == (found[0] if found else None)


def test_get_at_tells_absent_from_an_empty_element() -> None:
    d = doc()
    d["Study"]["DICOM"]["StudyID"] = None
    assert tree.get_at(d, ("Study", "Series", S1, "DICOM", "Modality")) == "CT"
    assert tree.get_at(d, ("Study", "DICOM", "StudyID")) is None
    assert tree.get_at(d, ("Study", "DICOM", "Nope")) is MISSING
    assert tree.get_at(d, ("Study", "DICOM", "StudyDescription", "deeper")) is MISSING
    assert tree.get_at(d, ("Study", "DICOM", "Nope"), None) is None
    assert tree.get_at(d, ()) is d
    assert tree.has_at(d, ("Study", "DICOM", "StudyID"))
    assert not tree.has_at(d, ("Study", "Series", "9.9"))


def test_set_at_creates_the_way_and_refuses_to_go_through_a_value() -> None:
    d: dict[str, Any] = {"SchemaVersion": 1.1}
    tree.set_at(d, ("Study", "Series", S1, "DICOM", "Modality"), "CT")
    tree.set_at(d, ("Study", "Series", S1, "DICOM", "SeriesNumber"), "2")
    assert d == {"SchemaVersion": 1.1, "Study": {"Series": {S1: {"DICOM": {"Modality": "CT", "SeriesNumber": "2"}}}}}
    with pytest.raises(TypeError, match=r"Study\.Series\.1\.2\.1\.DICOM\.Modality is not a mapping"):
        tree.set_at(d, ("Study", "Series", S1, "DICOM", "Modality", "x"), 1)
    with pytest.raises(ValueError):
        tree.set_at(d, (), 1)


def test_mapping_at_finds_or_makes_a_mapping() -> None:
    d = doc()
    assert tree.mapping_at(d, ("Study", "Series", S2, "DICOM")) is d["Study"]["Series"][S2]["DICOM"]
    made = tree.mapping_at(d, ("Study", "Series", S2, "Instances"))
    assert made == {} and d["Study"]["Series"][S2]["Instances"] is made
    assert tree.mapping_at(d, ()) is d
    with pytest.raises(TypeError, match=r"Patient\.DICOM\.PatientName is not a mapping"):
        tree.mapping_at(d, ("Patient", "DICOM", "PatientName"))


def test_delete_at() -> None:
    d = doc()
    assert tree.delete_at(d, ("Study", "Series", S1, "Instances", I2))
    assert list(d["Study"]["Series"][S1]["Instances"]) == [I1]
    assert tree.delete_at(d, ("Patient", "DICOM", "PatientID"))
    assert not tree.delete_at(d, ("Patient", "DICOM", "PatientID"))
    assert not tree.delete_at(d, ("Patient", "DICOM", "PatientName", "x"))
    assert not tree.delete_at(d, ())
    assert d["Patient"] == {"DICOM": {"PatientName": "A^B"}}


def test_rekey_moves_a_series_to_a_new_uid_in_place() -> None:
    d = doc()
    s1 = d["Study"]["Series"][S1]
    tree.rekey(d, ("Study", "Series", S1), "1.2.9")
    assert list(d["Study"]["Series"]) == ["1.2.9", S2]
    assert d["Study"]["Series"]["1.2.9"] is s1
    before = copy.deepcopy(d)
    tree.rekey(d, ("Study", "Series", S2), S2)
    assert d == before
    with pytest.raises(KeyError):
        tree.rekey(d, ("Study", "Series", S1), "1.2.8")  # no longer there
    with pytest.raises(KeyError):
        tree.rekey(d, ("Study", "Series", S2), "1.2.9")  # taken


def test_children_key() -> None:
    assert [tree.children_key(lv) for lv in ("Patient", "Study", "Series", "Instance")] == [
        None, "Series", "Instances", None]
