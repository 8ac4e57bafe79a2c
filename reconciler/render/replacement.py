"""A replacement as the user sees it: its five steps, their writes, and the time they take under the
write quotas (``-/+``, as terraform shows a resource that must be replaced).

A primary image set refuses some changes in place; AWS documents how to make them instead
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html): CopyImageSet to
a non-primary copy, update the copy, DeleteImageSet the primary, CopyImageSet the copy with
``promoteToPrimary`` (the promoted image set gets a new ID), DeleteImageSet the copy. CopyImageSet and
DeleteImageSet have their own quotas, 0.25 requests per second like UpdateImageSetMetadata
(https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html). The times are the
pacing alone: each copy, update and deletion is asynchronous, and its wait comes on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.plan.model import ImageSetPlan, Plan
from reconciler.plan.runinfo import WriteRates
from reconciler.ratelimit import RateLimiter, rate_of

UPDATE, COPY, DELETE = "UpdateImageSetMetadata", "CopyImageSet", "DeleteImageSet"
NEW_ID = "known after apply"


@dataclass(frozen=True)
class Rates:
    """Requests per second of the three writes: the documented quotas unless ``--rate`` overrides them."""

    update: float = rate_of(UPDATE) or 0.25
    copy: float = rate_of(COPY) or 0.25
    delete: float = rate_of(DELETE) or 0.25
    basis: str = ""  # where the rates come from, said beside an ETA (``BASES``); "" says nothing

    @classmethod
    def paced(cls, limiter: RateLimiter) -> Rates:
        """The rates LIMITER starts the writes at, and whether the update rate is learned for this account,
        set by --rate, or the documented quota (which apply then learns from)."""
        # said of the update rate (an ETA of updates alone names no other); with replacements the line
        # gives each write's rate
        basis = limiter.source(UPDATE) or "documented"
        defaults = cls()
        return cls(limiter.starting_rate(UPDATE) or defaults.update, limiter.starting_rate(COPY) or defaults.copy,
                   limiter.starting_rate(DELETE) or defaults.delete, basis)

    @classmethod
    def of_plan(cls, plan: Plan, otherwise: Rates) -> Rates:
        """The rates PLAN's ETA was made with (a saved plan keeps them), else OTHERWISE."""
        kept = plan.rates
        return otherwise if kept is None else cls(kept.update, kept.copy, kept.delete, kept.basis)

    def written(self) -> WriteRates:
        """These rates as the plan keeps them."""
        return WriteRates(self.update, self.copy, self.delete, self.basis)

    @property
    def note(self) -> str:
        """`` (the rate learned for this account)``: what an ETA assumes, or "" when unsaid."""
        return f" ({BASES[self.basis]})" if self.basis else ""

    @classmethod
    def configured(cls, overrides: Mapping[str, float] | None) -> Rates:
        """The rates the client paces at under ``--rate`` OVERRIDES (an operation, else ``*``)."""
        defaults = cls()
        return cls(rate_of(UPDATE, overrides) or defaults.update, rate_of(COPY, overrides) or defaults.copy,
                   rate_of(DELETE, overrides) or defaults.delete)

    def of(self, operation: str) -> float:
        return {UPDATE: self.update, COPY: self.copy, DELETE: self.delete}[operation]


BASES = {
    "documented": "the documented quota; apply learns this account's rate from its answers",
    "learned": "the rate learned for this account",
    "--rate": "as --rate sets it",
    "local": "AWS's documented quota; the local store is not paced unless --rate asks",
}
DEFAULT_RATES = Rates()


@dataclass(frozen=True)
class Step:
    """One step of a replacement: its name (as the journal's state machine names what it completes), the
    operation, what it does (IDs only), and how many requests it sends."""

    name: str
    operation: str
    what: str
    writes: int = 1

    def seconds(self, rates: Rates) -> float:
        return self.writes / rates.of(self.operation)


def steps(isp: ImageSetPlan) -> tuple[Step, ...]:
    """The five steps that replace ISP (action ``replace``), in the order they are sent; seven for a member
    of a replacement group, which also keeps a pristine copy of the original until the group is done."""
    n = len(isp.requests)
    grouped = isp.replacement is not None and isp.replacement.grouped
    pristine = (Step("pristine_copy", COPY, f"copy image set {isp.image_set_id} to a second non-primary image set, "
                     "unedited (the pristine copy: promoted back if the group cannot be promoted)"),) if grouped else ()
    return (
        Step("copy", COPY, f"copy image set {isp.image_set_id} to a new non-primary image set (the temporary copy)"),
        Step("update_copy", UPDATE, f"{n} update{'s' if n != 1 else ''} of the temporary copy, with the changes below",
             n),
        *pristine,
        Step("delete_primary", DELETE, f"delete the primary image set {isp.image_set_id}"),
        Step("promote", COPY, f"copy the temporary copy with promoteToPrimary = NEW image set ID ({NEW_ID})"),
        Step("delete_copy", DELETE, "delete the temporary copy"),
        *((Step("delete_pristine", DELETE, "delete the pristine copy, once every member's promotion is verified"),)
          if grouped else ()),
    )


@dataclass(frozen=True)
class Group:
    """A replacement group as a whole (``reconciler.plan.group``): every primary image set of one study."""

    members: tuple[str, ...]
    writes: int
    seconds: float
    window: float  # seconds from the first original's deletion to the last promotion (pacing alone)


def group_of(isp: ImageSetPlan, rates: Rates) -> Group | None:
    """The group ISP is replaced in; None when it is replaced alone. Each member sends its updates, three
    copies (edited, pristine, promoted) and three deletions (original, edited copy, pristine copy); its
    instances are in no primary image set while every original is deleted and every copy promoted."""
    r = isp.replacement
    if r is None or not r.grouped:
        return None
    n = len(r.group)
    return Group(r.group, r.group_requests + 6 * n, r.group_requests / rates.update + 3 * n / rates.copy
                 + 3 * n / rates.delete, n / rates.delete + n / rates.copy)


def writes(isp: ImageSetPlan) -> int:
    """Every write of the replacement: the updates of the copy and the two copies and two deletions."""
    extra = isp.replacement.writes if isp.replacement is not None else 4
    return len(isp.requests) + extra


def seconds(isp: ImageSetPlan, rates: Rates) -> float:
    return sum(s.seconds(rates) for s in steps(isp))


@dataclass(frozen=True)
class Writes:
    """Every write a plan sends, by operation: the updates, and the copies and deletions of its replacements."""

    updates: int = 0
    copies: int = 0
    deletes: int = 0

    @property
    def total(self) -> int:
        return self.updates + self.copies + self.deletes

    def seconds(self, rates: Rates) -> float:
        return self.updates / rates.update + self.copies / rates.copy + self.deletes / rates.delete


def plan_writes(plan: Plan) -> Writes:
    copies = deletes = 0
    for isp in plan.image_sets:
        if isp.action == "replace":
            for step in steps(isp):
                copies += step.writes if step.operation == COPY else 0
                deletes += step.writes if step.operation == DELETE else 0
    return Writes(plan.request_count, copies, deletes)
