"""Replacements read back from journal records (``reconciler.apply.lineage``), and the chain through one image set."""

from __future__ import annotations

from typing import Any

from reconciler.apply.lineage import Lineage, Replaced, lineage, replacements

DS = "d" * 32
A, B, C = "a" * 32, "b" * 32, "c" * 32


def rec(ts: float, event: str, image_set_id: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "run": f"run{int(ts) // 100}", "event": event, "datastoreId": DS, "imageSetId": image_set_id,
            **fields}


def full(old: str, new: str, t: float) -> list[dict[str, Any]]:
    return [rec(t, "copy_submitting", old), rec(t + 1, "primary_deleted", old),
            rec(t + 2, "promote_submitted", old, newId=new), rec(t + 3, "promoted", old, newId=new),
            rec(t + 4, "converged", old, replacedBy=new)]


def test_a_finished_replacement_has_its_times_and_run() -> None:
    (r,) = replacements(full(A, B, 100))
    assert r == Replaced(DS, A, B, replaced_at=102, deleted_at=101, run="run1", finished=True)


def test_records_out_of_order_are_folded_by_time() -> None:
    assert replacements(list(reversed(full(A, B, 100)))) == replacements(full(A, B, 100))


def test_a_promotion_answered_but_not_converged_is_unfinished() -> None:
    (r,) = replacements(full(A, B, 100)[:4])
    assert (r.new_id, r.finished) == (B, False)


def test_nothing_promoted_is_no_replacement() -> None:
    assert replacements(full(A, B, 100)[:2]) == []  # the primary deleted, its copy not yet promoted
    failed = [*full(A, B, 100)[:3], rec(103, "promote_failed", A, newId=B)]
    assert replacements(failed) == []
    abandoned = [rec(100, "copy_submitting", A), rec(101, "replace_abandoned", A)]
    assert replacements(abandoned) == []


def test_a_failed_promotion_then_a_good_one_names_the_good_one() -> None:
    records = [*full(A, B, 100)[:3], rec(103, "promote_failed", A, newId=B),
               rec(200, "promote_submitted", A, newId=C), rec(201, "converged", A, replacedBy=C)]
    (r,) = replacements(records)
    assert (r.new_id, r.replaced_at, r.run, r.finished) == (C, 200, "run2", True)


def test_the_chain_through_an_image_set_both_ways() -> None:
    found = replacements(full(A, B, 100) + full(B, C, 200))
    assert lineage(found, DS, B) == Lineage(replaces=(found[0],), replaced_by=(found[1],))
    assert [r.old_id for r in lineage(found, DS, C).replaces] == [A, B]  # oldest first
    assert [r.new_id for r in lineage(found, DS, A).replaced_by] == [B, C]
    assert lineage(found, "e" * 32, B) == Lineage()  # another datastore


def test_a_cycle_stops() -> None:
    found = replacements(full(A, B, 100) + full(B, A, 200))
    both = lineage(found, DS, A)
    assert (len(both.replaces), len(both.replaced_by)) == (1, 1)
