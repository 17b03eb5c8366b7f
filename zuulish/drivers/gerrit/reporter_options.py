"""A pipeline's reporter options for a Gerrit connection, with Zuul's names.

Label votes (``Verified: 1``), ``submit``, ``comment``, and ``checks-api``: the
``checks`` plugin's check of this pipeline, as Zuul writes it::

    success:
      gerrit:
        comment: false
        checks-api:
          checker: zuul:check          # the checker's UUID, made by a Gerrit admin
          state: SUCCESSFUL            # one of STATES
          message: Change passed all voting jobs   # optional

Anything else is refused at its line (with the nearest valid name): a report
zuulish would silently not make is worse than an error at load. Zuul's ``scheme``
(a checker per repository, found through pending checks) is not supported.
"""

from __future__ import annotations

import difflib
from typing import Any

from zuulish.errors import OptionError
from zuulish.model import ReporterSpec

#: the check states of the plugin's CheckInput
STATES = ("NOT_STARTED", "SCHEDULED", "RUNNING", "SUCCESSFUL", "FAILED", "NOT_RELEVANT")
FLAGS = ("submit", "comment")
CHECKS_API = "checks-api"
CHECK_KEYS = ("checker", "state", "message")
NOT_SUPPORTED = {"scheme": "zuulish reports to one checker: name its UUID in 'checker'"}


def _bool(opts: dict, key: str, default: bool) -> bool:
    value = opts.get(key, default)
    if not isinstance(value, bool):
        raise OptionError(f"{key} must be true or false, not {value!r}", opts, key)
    return value


def parse_checks_api(value: Any, opts: dict) -> tuple[tuple[str, str], ...]:
    """``checks-api`` as (key, value) pairs: checker, state and perhaps message."""
    if not isinstance(value, dict):
        raise OptionError(f"{CHECKS_API} must be a mapping with checker and state, not "
                          f"{value!r}", opts, CHECKS_API)
    for key in value:
        if key in NOT_SUPPORTED:
            raise OptionError(f"{CHECKS_API}: {key!r} is not supported: "
                              f"{NOT_SUPPORTED[key]}", value, key)
        if key not in CHECK_KEYS:
            close = difflib.get_close_matches(str(key), CHECK_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; it takes {', '.join(CHECK_KEYS)}"
            raise OptionError(f"{CHECKS_API}: unknown option {key!r}{hint}", value, key)
    checker = value.get("checker")
    if not isinstance(checker, str) or not checker.strip():
        raise OptionError(f"{CHECKS_API} needs a 'checker' (the checker's UUID)",
                          value if "checker" in value else opts,
                          "checker" if "checker" in value else CHECKS_API)
    state = value.get("state")
    if state not in STATES:
        where = (value, "state") if "state" in value else (opts, CHECKS_API)
        raise OptionError(f"{CHECKS_API} state must be one of {', '.join(STATES)}, not "
                          f"{state!r}", *where)
    out = [("checker", checker.strip()), ("state", str(state))]
    message = value.get("message")
    if message is not None:
        if not isinstance(message, str):
            raise OptionError(f"{CHECKS_API} message must be text, not {message!r}",
                              value, "message")
        out.append(("message", message))
    return tuple(out)


def parse_reporter_options(connection: str, opts: dict[str, Any]) -> ReporterSpec:
    """The reporter of ``connection`` as the pipeline describes it; an OptionError
    (a ValueError) naming the option that is wrong, and where it is."""
    votes: list[tuple[str, int]] = []
    for key, value in opts.items():
        if key in FLAGS or key == CHECKS_API:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            votes.append((str(key), value))
            continue
        close = difflib.get_close_matches(str(key), (*FLAGS, CHECKS_API), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else \
            f"; Gerrit reporters take label votes (a label and a number), " \
            f"{', '.join(FLAGS)} and {CHECKS_API}"
        raise OptionError(f"unknown option {key!r} (a label vote is a number, not "
                          f"{value!r}){hint}", opts, key)
    options: tuple[tuple[str, Any], ...] = ()
    if opts.get(CHECKS_API) is not None:
        options = ((CHECKS_API, parse_checks_api(opts[CHECKS_API], opts)),)
    return ReporterSpec(connection, votes=tuple(votes), submit=_bool(opts, "submit", False),
                        comment=_bool(opts, "comment", True), options=options)
