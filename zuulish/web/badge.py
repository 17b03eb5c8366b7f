"""A project's status badge: an SVG image saying ``passing``, ``failing`` or ``unknown``.

The image holds only fixed words (never a name from the request), so it needs no
escaping; its width follows the words at a fixed advance per character.
"""

from __future__ import annotations

LABEL = "zuulish"
#: background of the status half; white text on each has a contrast of 4.5:1 or more
COLOURS = {"passing": "#2e7d32", "failing": "#c62828", "unknown": "#5f6368"}
CHAR_WIDTH = 7
PAD = 10


def badge_svg(status: str) -> str:
    """The badge for ``status`` (one of :data:`COLOURS`)."""
    colour = COLOURS[status]
    left = len(LABEL) * CHAR_WIDTH + PAD
    right = len(status) * CHAR_WIDTH + PAD
    width = left + right
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" '
        f'role="img" aria-label="{LABEL}: {status}">'
        f"<title>{LABEL}: {status}</title>"
        f'<rect width="{left}" height="20" fill="#37474f"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        'text-anchor="middle">'
        f'<text x="{left / 2}" y="14">{LABEL}</text>'
        f'<text x="{left + right / 2}" y="14">{status}</text>'
        "</g></svg>")
