"""The one error of GitHub's API: a call that failed, with GitHub's own reason."""

from __future__ import annotations

from typing import Any

from zuulish.errors import ForgeUnavailable, UserError


class GitHubApiError(UserError):
    """A call to GitHub's API that did not succeed.

    ``status`` is the HTTP status (``None`` when no answer came: connection error or
    timeout), ``reason`` GitHub's ``message`` (or what went wrong), ``call`` the method
    and path (``"PUT /repos/o/r/pulls/1/merge"``), ``details`` GitHub's ``errors``
    list where it sent one, and ``retry_after`` the seconds to wait when a rate limit
    stopped the call. ``str()`` reads ``"PUT /repos/o/r/pulls/1/merge: 405 Pull Request
    is not mergeable"``.
    """

    def __init__(self, call: str, status: int | None, reason: str,
                 details: list[Any] | None = None, *, retry_after: float | None = None):
        self.call = call
        self.status = status
        self.reason = reason
        self.details = list(details or [])
        self.retry_after = retry_after
        shown = f"{status} {reason}" if status is not None else reason
        extra = "; ".join(_detail_text(d) for d in self.details)
        super().__init__(f"{call}: {shown}" + (f" ({extra})" if extra else ""))


    @property
    def refused(self) -> bool:
        """GitHub will not accept this call as it is (a 4xx other than a rate limit or a
        timeout): trying it again is pointless."""
        return (self.status is not None and 400 <= self.status < 500
                and self.status not in (408, 429) and self.retry_after is None)


def _detail_text(detail: Any) -> str:
    if isinstance(detail, dict):
        text = detail.get("message") or " ".join(
            f"{k}={detail[k]}" for k in ("resource", "field", "code") if k in detail)
        return str(text)
    return str(detail)


def error_from_response(call: str, status: int, body: Any, text: str) -> GitHubApiError:
    """The error for a non-2xx answer; ``body`` is its JSON (or ``None``), ``text`` its
    raw text (shown, cut short, when GitHub sent no JSON ``message``)."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        details = body.get("errors")
        return GitHubApiError(call, status, body["message"],
                              details if isinstance(details, list) else None)
    snippet = " ".join(text.split())[:200] or "(empty body)"
    return GitHubApiError(call, status, f"unexpected answer: {snippet}")


def unavailable(exc: GitHubApiError, what: str) -> ForgeUnavailable | None:
    """``exc`` as "GitHub cannot answer now" (no answer, a 5xx, a rate limit), for the
    caller to try again later; None when GitHub did answer (a 404, a 422...)."""
    if exc.status is None or exc.status >= 500 or exc.retry_after is not None:
        return ForgeUnavailable(f"{what}: {exc}", exc.retry_after or 30.0)
    return None
