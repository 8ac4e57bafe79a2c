"""Every output of the CLI, chosen by format name from one dict (``REPORTERS``), as check-jsonschema
picks its reporters. A command builds its reporter once and hands it the values to show: a plan (or a
drift report, with blame), an apply report, a version history, validation findings, a revert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.api import DatastoreInfo, ImageSetInfo
from reconciler.apply.lineage import Lineage
from reconciler.apply.report import ApplyReport
from reconciler.apply.revert import RevertPlan, RevertResult
from reconciler.plan.blame import ImageSetBlame
from reconciler.plan.inventory import ImageSetRow
from reconciler.plan.model import Change, Plan
from reconciler.render.apply_report import report_json, report_lines
from reconciler.render.blame import blame_json, blame_text
from reconciler.render.datastores import datastores_json, datastores_lines
from reconciler.render.diagnostics import diagnostic_json, validate_lines
from reconciler.render.history import history_json, history_text, iso
from reconciler.render.json_out import plan_json
from reconciler.render.lineage import deleted_lines, lineage_json, lineage_lines
from reconciler.render.listing import listing_json, listing_lines
from reconciler.render.markdown import LIMIT, render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.replacement import DEFAULT_RATES, Rates
from reconciler.render.revert import revert_heading, revert_text
from reconciler.render.text import render_text
from reconciler.render.versions import Diffs, history_diff_json, history_diff_text, revert_preview
from reconciler.spec.model import Diagnostic

Blames = Mapping[tuple[str, str], ImageSetBlame]


@dataclass(frozen=True)
class Style:
    """What every reporter is given: the redaction, colour (a terminal), and the write rates for ETAs."""

    redactor: Redactor = field(default_factory=Redactor)
    colour: bool = False
    rates: Rates = DEFAULT_RATES


class TextReporter:
    """Plain text for people; the form of every output that has no other."""

    def __init__(self, style: Style) -> None:
        self.style = style

    def plan(self, plan: Plan, *, drift: bool = False, blames: Blames | None = None) -> str:
        s = self.style
        out = render_text(plan, s.redactor, colour=s.colour, rates=Rates.of_plan(plan, s.rates), drift=drift)
        return out + blame_text(blames, plan, s.redactor) if blames is not None else out

    def apply(self, report: ApplyReport) -> str:
        return _lines(report_lines(report, self.style.redactor))

    def history(
        self, datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo], diffs: Diffs | None = None,
        lineage: Lineage | None = None, deleted: ImageSetInfo | None = None,
    ) -> str:
        """The versions, newest first; with DIFFS (``history --diff``) what each changed; after the heading, the
        replacements LINEAGE shows. Without versions (a deleted image set): DELETED, what GetImageSet says of it."""
        if not versions:
            lines = deleted_lines(datastore_id, image_set_id, deleted)
        elif diffs is not None:
            lines = history_diff_text(datastore_id, image_set_id, versions, diffs, self.style.redactor)
        else:
            lines = history_text(datastore_id, image_set_id, versions)
        lines[1:1] = lineage_lines(datastore_id, image_set_id, lineage or Lineage(), versions)
        return _lines(lines)

    def validation(self, diags: Sequence[Diagnostic], files: int) -> str:
        return _lines(validate_lines(diags, files))

    def revert_preview(self, plan: RevertPlan, changes: Sequence[Change]) -> str:
        """The revert about to be sent, and what the new version changes compared with the current one."""
        preview = revert_preview(plan.current_version, plan.to_version, changes, self.style.redactor)
        return revert_heading(plan) + "\n" + _lines(preview)

    def revert(self, result: RevertResult) -> str:
        return revert_text(result) + "\n"

    def listing(self, datastore_id: str, rows: Sequence[ImageSetRow], *, counted: bool = False) -> str:
        """``reconciler ls``: a datastore's image sets as a table (COUNTED: counts read from the metadata)."""
        return _lines(listing_lines(datastore_id, rows, self.style.redactor, counted=counted))

    def datastores(self, datastores: Sequence[DatastoreInfo]) -> str:
        """``reconciler ls`` without ``--datastore-id``: the datastores (ListDatastores, every page)."""
        return _lines(datastores_lines(datastores))


class JsonReporter(TextReporter):
    """One JSON document per run, for machines (the plan: ``schemas/plan.schema.json``)."""

    def plan(self, plan: Plan, *, drift: bool = False, blames: Blames | None = None) -> str:
        doc = plan_json(plan, self.style.redactor, Rates.of_plan(plan, self.style.rates))
        if blames is not None:
            doc = blame_json(doc, blames, self.style.redactor)
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def apply(self, report: ApplyReport) -> str:
        return _json(report_json(report, self.style.redactor))

    def history(
        self, datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo], diffs: Diffs | None = None,
        lineage: Lineage | None = None, deleted: ImageSetInfo | None = None,
    ) -> str:
        if diffs is not None:
            doc = history_diff_json(datastore_id, image_set_id, versions, diffs, self.style.redactor)
        else:
            doc = history_json(datastore_id, image_set_id, versions)
        doc["deletedAt"] = iso(deleted.deleted_at) if deleted is not None else None
        doc.update(lineage_json(lineage or Lineage(), versions))
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def validation(self, diags: Sequence[Diagnostic], files: int) -> str:
        return _json([diagnostic_json(d) for d in diags])

    def listing(self, datastore_id: str, rows: Sequence[ImageSetRow], *, counted: bool = False) -> str:
        doc = listing_json(datastore_id, rows, self.style.redactor, counted=counted)
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def datastores(self, datastores: Sequence[DatastoreInfo]) -> str:
        return _json(datastores_json(datastores))


class MarkdownReporter(TextReporter):
    """A pull-request comment: the plan (and its blame section) within GitHub's size limit."""

    def plan(self, plan: Plan, *, drift: bool = False, blames: Blames | None = None) -> str:
        s = self.style
        section = blame_text(blames, plan, s.redactor, markdown=True) if blames is not None else ""
        # the blame section counts against the comment's size limit
        rates = Rates.of_plan(plan, s.rates)
        return render_markdown(plan, s.redactor, rates=rates, limit=LIMIT - len(section), drift=drift) + section


REPORTERS: dict[str, type[TextReporter]] = {
    "text": TextReporter,
    "json": JsonReporter,
    "markdown": MarkdownReporter,
}


def reporter(name: str, style: Style) -> TextReporter:
    """The reporter of format NAME (the commands' ``--format`` choices are names of this dict)."""
    return REPORTERS[name](style)


def _lines(lines: Sequence[str]) -> str:
    return "\n".join(lines) + "\n"


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"
