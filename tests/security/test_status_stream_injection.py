"""The status stream's deltas carry what untrusted changes say (a subject, a message)
inside server-sent events: a line break in them must never end the event or start a
forged one (``event: gone`` would stop every open page), whatever line break SSE
knows (LF, CR, CRLF)."""

from __future__ import annotations

from sqlalchemy import update

from tests.unit.test_web_status_live import WAIT, Live, finish_lint, live  # noqa: F401
from zuulish.store import ChangeRow, QueueItemRow

FORGED = "\n\nevent: gone\ndata: {}\n\r\revent: gone\r\ndata: {}\r\n\r\n"


def _events(raw: bytes) -> list[tuple[str, str]]:
    """The (event, data) of each event, split as a browser splits them."""
    out = []
    text = raw.decode().replace("\r\n", "\n").replace("\r", "\n")
    for block in text.split("\n\n"):
        kind, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((kind, data))
    return out


def test_a_subject_with_line_breaks_cannot_forge_an_event(live: Live) -> None:  # noqa: F811
    import json
    import urllib.request

    with live.store.session() as s:
        s.execute(update(ChangeRow).where(ChangeRow.number == 3).values(subject=FORGED))
        s.execute(update(QueueItemRow).where(QueueItemRow.change_number == 3)
                  .values(message=FORGED))
    url = f"{live.url}/api/tenant/t/status/events?deltas=true"
    raw = b""
    with urllib.request.urlopen(url, timeout=WAIT) as response:  # noqa: S310 (127.0.0.1)
        while raw.count(b"\n\n") < 2:  # the retry line and the first status
            raw += response.read1(65536)
        finish_lint(live.store)  # a delta that sends the item again
        while raw.count(b"event: delta") < 1 or not raw.endswith(b"\n\n"):
            raw += response.read1(65536)
    events = _events(raw)
    assert [kind for kind, _ in events] == ["status", "delta"]
    delta = json.loads(events[1][1])
    [item] = [i for p in delta["pipelines"] for q in p["queues"] for i in q["items"]
              if isinstance(i, dict)]
    assert item["change"]["subject"] == FORGED and item["message"] == FORGED
