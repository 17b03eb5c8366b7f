"""A pipeline's reporter options for a GitHub connection, with Zuul's names.

``status`` (the commit status API) and ``status-url`` (the link it carries,
by default the item's page on the dashboard), ``check`` (the checks API), ``comment``,
``review`` and ``review-body``, ``merge`` (the gate's submit), ``label`` and
``unlabel``. Anything else is refused with the nearest valid name: a report
zuulish would silently not make is worse than an error at load.
"""

from __future__ import annotations

import difflib
from typing import Any

from zuulish.model import ReporterSpec

STATUSES = ("pending", "success", "failure")
CHECKS = ("queued", "cancelled", "failure", "in_progress", "neutral", "skipped", "success")
REVIEWS = ("approve", "comment", "request-changes")
KEYS = ("status", "status-url", "check", "comment", "review", "review-body", "merge", "label",
        "unlabel")


def _one_of(opts: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    value = opts.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _bool(opts: dict, key: str, default: bool) -> bool:
    value = opts.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {value!r}")
    return value


def _labels(opts: dict, key: str) -> tuple[str, ...]:
    value = opts.get(key)
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{key} must be a label name or a list of them, not {value!r}")
    return tuple(values)


def parse_reporter_options(connection: str, opts: dict[str, Any]) -> ReporterSpec:
    """The reporter of ``connection`` as the pipeline describes it; ValueError naming
    the option that is wrong."""
    for key in opts:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; GitHub reporters take {', '.join(KEYS)}"
            raise ValueError(f"unknown option {key!r}{hint}")
    review = _one_of(opts, "review", REVIEWS)
    body = opts.get("review-body")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"review-body must be text, not {body!r}")
    if review in ("comment", "request-changes") and not body:
        raise ValueError(f"review: {review} needs a review-body (GitHub refuses such a "
                         "review without one)")
    if body is not None and review is None:
        raise ValueError("review-body is only used with review")
    url = opts.get("status-url")
    if url is not None and not (isinstance(url, str) and url.startswith(("https://",
                                                                           "http://"))):
        raise ValueError(f"status-url must be an http(s) URL, not {url!r}")
    options: dict[str, Any] = {
        "status": _one_of(opts, "status", STATUSES),
        "status-url": url,
        "check": _one_of(opts, "check", CHECKS),
        "review": review,
        "review-body": body,
        "label": _labels(opts, "label"),
        "unlabel": _labels(opts, "unlabel"),
    }
    return ReporterSpec(connection, votes=(), submit=_bool(opts, "merge", False),
                        comment=_bool(opts, "comment", True),
                        options=tuple((k, v) for k, v in options.items() if v))
