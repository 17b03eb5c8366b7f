"""Small charts drawn on the server as inline SVG (no script, no chart library).

``job_trend_svg``: a job's builds over time, one bar each (its duration, coloured
by its result) and the failure rate of the last ``WINDOW`` builds as a line.
``timeline_svg``: a build's phases and tasks on one time axis. Every text in them
is escaped; each chart says what it shows in its ``aria-label`` and a ``<title>``
per mark, for screen readers and tooltips.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

#: How many builds the failure rate of the trend chart looks back over.
WINDOW = 10
#: The most task rows the timeline draws (the longest tasks are kept).
MAX_ROWS = 60
OK = {"SUCCESS", "ok", "changed", "skipped"}


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _kind(result: str | None) -> str:
    """The CSS class of a mark for ``result``."""
    if result is None:
        return "other"
    if result in OK:
        return "success"
    if result in ("failed (ignored)",):
        return "ignored"
    return "failure"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    value = round(value)
    minutes, seconds = divmod(value, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def failure_rates(results: Sequence[str | None], window: int = WINDOW) -> list[float]:
    """For each build, the share of failures among it and the ``window - 1`` before."""
    rates = []
    for i in range(len(results)):
        last = results[max(0, i - window + 1):i + 1]
        rates.append(sum(1 for r in last if r != "SUCCESS") / len(last))
    return rates


def job_trend_svg(job: str, points: Sequence[dict[str, Any]], width: int = 720,
                  height: int = 180) -> Markup:
    """The trend chart of ``job``'s builds (``points``: oldest first, each with
    ``duration``, ``result``, ``finished_at``); empty when there is none."""
    if not points:
        return Markup("")
    pad_left, pad_right, pad_top, pad_bottom = 48, 40, 10, 20
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    longest = max((p["duration"] or 0 for p in points), default=0) or 1
    step = plot_w / len(points)
    bar = max(1.0, step * 0.8)
    rates = failure_rates([p["result"] for p in points])
    failures = sum(1 for p in points if p["result"] != "SUCCESS")
    right = pad_left + plot_w + 4
    label = (f"{job}: the last {len(points)} builds, oldest first; {failures} did not "
             f"succeed; the longest ran {_seconds(longest)}")
    parts = [f'<svg class="chart trend" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMidYMid meet" aria-label="{_attr(label)}">',
             f'<line class="axis" x1="{pad_left}" y1="{pad_top + plot_h}" '
             f'x2="{pad_left + plot_w}" y2="{pad_top + plot_h}"/>',
             f'<text class="tick" x="{pad_left - 4}" y="{pad_top + 8}" '
             f'text-anchor="end">{_attr(_seconds(longest))}</text>',
             f'<text class="tick" x="{pad_left - 4}" y="{pad_top + plot_h}" '
             'text-anchor="end">0s</text>',
             f'<text class="tick rate" x="{right}" y="{pad_top + 8}">100%</text>',
             f'<text class="tick rate" x="{right}" y="{pad_top + plot_h}">0%</text>']
    line = []
    for i, (p, rate) in enumerate(zip(points, rates, strict=True)):
        x = pad_left + i * step + (step - bar) / 2
        h = max(1.0, (p["duration"] or 0) / longest * plot_h)
        tip = f"{p['result']} in {_seconds(p['duration'])}"
        parts.append(f'<rect class="mark {_kind(p["result"])}" x="{x:.1f}" '
                     f'y="{pad_top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                     f'<title>{_attr(tip)}</title></rect>')
        line.append(f"{x + bar / 2:.1f},{pad_top + plot_h - rate * plot_h:.1f}")
    parts.append(f'<polyline class="rate" points="{" ".join(line)}"><title>failure rate '
                 f'of the last {WINDOW} builds</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))


def timeline_svg(phases: Sequence[dict[str, Any]], tasks: Sequence[Any],
                 width: int = 720) -> Markup:
    """The build's phases (``phase``, ``start``, ``end``) and tasks (``Task``s of
    ``task_summary``) on one time axis; empty when nothing has a time."""
    timed = [t for t in tasks if t.start is not None and t.end is not None]
    if not phases and not timed:
        return Markup("")
    if len(timed) > MAX_ROWS:
        keep = set(map(id, sorted(timed, key=lambda t: -(t.duration or 0))[:MAX_ROWS]))
        timed = [t for t in timed if id(t) in keep]
    starts = [p["start"] for p in phases] + [t.start for t in timed]
    ends = [p["end"] for p in phases] + [t.end for t in timed]
    first, span = min(starts), max(max(ends) - min(starts), 0.001)
    label_w, row = 200, 16
    plot_w = width - label_w - 10
    rows = [(p["phase"], p["start"], p["end"], f"phase {p['phase']}", "phase", None)
            for p in phases]
    rows += [(t.name, t.start, t.end, f"{t.phase}: {t.name} ({t.result})", _kind(t.result),
              t.index) for t in timed]
    height = row * len(rows) + 20
    label = (f"timeline of {len(phases)} phases and {len(timed)} tasks over "
             f"{_seconds(span)}")
    parts = [f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" aria-label="{_attr(label)}">']
    for n, (name, start, end, tip, kind, index) in enumerate(rows):
        y = n * row
        x = label_w + (start - first) / span * plot_w
        w = max(1.0, (end - start) / span * plot_w)
        text = name if len(name) <= 30 else name[:29] + "…"
        mark = (f'<text class="label" x="{label_w - 6}" y="{y + 12}" '
                f'text-anchor="end">{_attr(text)}</text>'
                f'<rect class="mark {kind}" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" '
                f'height="{row - 6}"><title>{_attr(tip)}: {_attr(_seconds(end - start))}'
                '</title></rect>')
        parts.append(f'<a href="#task-{index}">{mark}</a>' if index is not None else mark)
    parts.append(f'<text class="tick" x="{label_w}" y="{height - 4}">0s</text>'
                 f'<text class="tick" x="{width - 10}" y="{height - 4}" '
                 f'text-anchor="end">{_attr(_seconds(span))}</text></svg>')
    return Markup("".join(parts))
