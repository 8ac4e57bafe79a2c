"""The blame section of a drift report: capped in markdown and counted in the comment's size limit."""

from __future__ import annotations

from reconciler.plan.blame import Blame, ImageSetBlame
from reconciler.plan.model import Change, ImageSetPlan, Plan
from reconciler.render.blame import blame_text
from reconciler.render.markdown import LIMIT
from reconciler.render.redact import Redactor
from reconciler.render.reporters import MarkdownReporter, Style

DS = "1" * 32


def test_markdown_blame_section_is_capped_and_counted_in_the_size_limit() -> None:
    path = ("Study", "DICOM", "StudyDescription")
    sets = tuple(ImageSetPlan(DS, f"{n:032x}", "9", "update", changes=(Change("change", path, "A" * 80, "B" * 80),))
                 for n in range(300))
    plan = Plan(sets)
    blames = {(DS, s.image_set_id): ImageSetBlame(s.image_set_id, {path: Blame(path, "7")}, 4) for s in sets}
    section = blame_text(blames, plan, markdown=True)
    assert section.count("\n- `") == 50 and "250 more" in section and "1200 metadata reads" in section
    out = MarkdownReporter(Style(Redactor(key=b"k"))).plan(plan, drift=True, blames=blames)
    assert out.endswith(section)
    assert len(out) <= LIMIT and out.startswith("### Drift report: 300 to update")
