"""Gerrit stream events of the shared corpus as the trigger filters read them.

The Gerrit intake stores each event with the data keys that
``zuulish.drivers.gerrit.event_filter`` names; this reads a corpus line into such a
``TriggerEvent`` so the filters are tested against Gerrit's real wire format.
"""

from __future__ import annotations

import json
from typing import Any

from tests.corpus import CORPUS_ROOT
from zuulish.model import TriggerEvent

STREAM = CORPUS_ROOT / "gerrit" / "stream-events"
#: the account field Gerrit sets on each event type (who did it)
ACTORS = {"patchset-created": "uploader", "comment-added": "author",
          "change-merged": "submitter", "change-abandoned": "abandoner",
          "change-restored": "restorer", "topic-changed": "changer",
          "hashtags-changed": "editor", "wip-state-changed": "changer",
          "ref-updated": "submitter"}


def corpus_line(name: str) -> dict[str, Any]:
    return json.loads((STREAM / f"{name}.json").read_text())


def to_event(obj: dict[str, Any], connection: str = "gerrit",
             **extra: Any) -> TriggerEvent:
    """One stream event as stored: its columns and the data keys filters read."""
    kind = obj["type"]
    change = obj.get("change") or {}
    patchset = obj.get("patchSet") or {}
    update = obj.get("refUpdate") or {}
    actor = obj.get(ACTORS.get(kind, ""), {}) or {}
    data: dict[str, Any] = {}
    if actor.get("username"):
        data["account_username"] = actor["username"]
    if actor.get("email"):
        data["account_email"] = actor["email"]
    details = [{"label": a["type"], "value": int(a["value"]),
                **({"old_value": int(a["oldValue"])} if "oldValue" in a else {})}
               for a in obj.get("approvals", [])]
    if details:
        data["all_approvals"] = {d["label"]: d["value"] for d in details}
        data["approval_details"] = details
    for key in ("added", "removed"):
        if key in obj:
            data[key] = obj[key]
    if "kind" in patchset:
        data["kind"] = patchset["kind"]
    data.update(extra)
    ref = update.get("refName") or patchset.get("ref")
    branch = change.get("branch")
    if update and str(ref).startswith("refs/heads/"):
        branch = str(ref)[len("refs/heads/"):]
    return TriggerEvent(
        id=1, connection=connection, type=kind,
        project=change.get("project") or update.get("project"), branch=branch,
        change_number=change.get("number"), patchset=patchset.get("number"),
        comment=obj.get("comment"),
        approvals={d["label"]: d["value"] for d in details if "old_value" in d},
        ref=ref, oldrev=update.get("oldRev"), newrev=update.get("newRev"),
        account=actor.get("username"), data=data)
