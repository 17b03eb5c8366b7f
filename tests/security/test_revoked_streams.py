"""A reader whom a tenant's new rules refuse keeps no stream open: each live stream
(the status's events, a build's console) was allowed under the rules its tenant had
when it opened, and ends when they change; opened again, it is decided under the new
ones. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

from tests.fakes import stream_client as sc
from tests.fakes.auth_web import Api, serve_auth_app
from tests.functional.test_stream_tickets import reader, with_ticket
from zuulish.config.auth_rules import TenantAuthRules
from zuulish.web.streams import REOPEN_CODE, REOPEN_REASON

STATUS = "/api/tenant/t/status/events"
RUNNING = "/api/build/build-2/console-stream"  # running, no log yet: stays open


def _set_rules(api: Api, tenant: str, rules: TenantAuthRules) -> None:
    """Reconfigure ``tenant`` with ``rules``, as a reload of the tenant file does."""
    layouts = dict(api.layouts.layouts)
    layouts[tenant] = dataclasses.replace(layouts[tenant], auth_rules=rules)
    api.layouts.layouts = layouts


def test_streams_end_when_their_tenants_rules_change_and_open_again_under_the_new_ones(
        tmp_path: Path) -> None:
    """A stream is allowed under the rules its tenant had when it opened. When they
    change, it ends (the status with a last ``reopen`` event, the console with 4003),
    and opened again it is decided under the new rules. Rules reloaded unchanged end
    nothing."""
    with serve_auth_app(tmp_path, access_check_seconds=0.2) as api:
        token = reader(api)
        rules = api.layouts.layouts["t"].auth_rules
        public = f"{api.url}/api/tenant/pub/status/events"
        status_url = with_ticket(api, STATUS, token)
        console_url = with_ticket(api, RUNNING, token, ws=True)

        async def watch() -> tuple[sc.Events, sc.Events, sc.Console, float]:
            streams = [asyncio.create_task(sc.read_events(public, until=None, timeout=30)),
                       asyncio.create_task(sc.read_events(status_url, until=None, timeout=30)),
                       asyncio.create_task(sc.read_console(console_url, timeout=30))]
            await asyncio.sleep(1.5)
            _set_rules(api, "t", TenantAuthRules(rules.admin, rules.access))  # the same
            await asyncio.sleep(1.5)  # several checks
            assert not any(task.done() for task in streams), "equal rules ended a stream"
            changed = time.monotonic()
            _set_rules(api, "pub", rules)  # an open tenant gets access-rules
            _set_rules(api, "t", TenantAuthRules(rules.admin, rules.admin))  # admins only
            bare, ticketed, console = await asyncio.gather(*streams)
            return bare, ticketed, console, time.monotonic() - changed

        bare, ticketed, live_console, took = asyncio.run(watch())
        for got in (bare, ticketed):
            assert got.status == 200 and got.ended
            assert got.names()[0] == "status" and got.names()[-1] == "reopen"
            assert json.loads(got.events[-1][1]) == {"reason": REOPEN_REASON}
        assert (live_console.code, live_console.reason) == (REOPEN_CODE, REOPEN_REASON)
        assert took < 10
        # opened again, each is decided under the new rules: refused now
        assert sc.events(public).status == 401
        assert sc.ticket(api, STATUS, token)[0] == 403
        assert sc.ticket(api, RUNNING, token)[0] == 403
        # and whom the new rules let in reads as before
        admin = api.sso(realm_access={"roles": ["ci-admin"]})
        assert sc.events(with_ticket(api, STATUS, admin)).names() == ["status"]
