"""What ``reconciler revert`` says: the revert it is about to send, and how it ended (IDs and versions; what
the new version changes is ``reconciler.render.versions``)."""

from __future__ import annotations

from reconciler.apply.revert import RevertPlan, RevertResult


def revert_heading(plan: RevertPlan) -> str:
    return (f"Image set {plan.image_set_id} is at version {plan.current_version}; reverting to version "
            f"{plan.to_version} creates a new version with that content.")


def revert_text(result: RevertResult) -> str:
    p = result.plan
    who = f"image set {p.image_set_id}"
    if result.status == "reverted":
        return (f"Reverted {who} to version {p.to_version}: new version {result.new_version} "
                "(verified: its metadata equals version " + p.to_version + ")")
    if result.status == "stale":
        return (f"Not reverted: {who} changed since it was read (version {p.current_version}, "
                f"now {result.current_version}); nothing was written")
    return f"Revert of {who} failed: {result.message}"
