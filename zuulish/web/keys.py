"""The web application's shared objects, as typed aiohttp application keys."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from zuulish.logs.stores import LogStores
from zuulish.metrics import Scrape
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import Store
from zuulish.web.access import Access
from zuulish.web.auth.tickets import StreamTickets
from zuulish.web.streams import RulesWatch, StreamLimits

STORE = web.AppKey("store", Store)
LAYOUTS = web.AppKey("layouts", TenantLayouts)
STATE_DIR = web.AppKey("state_dir", Path)
LOG_STORES = web.AppKey("log_stores", LogStores)
WEB_URL = web.AppKey("web_url", str)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CHANGE_LINKS = web.AppKey("change_links", dict)
ACCESS = web.AppKey("access", Access)
POOL_LABELS = web.AppKey("pool_labels", dict)  # zuulish.yaml's providers -> their labels
METRICS = web.AppKey("metrics", Scrape)
TICKETS = web.AppKey("stream_tickets", StreamTickets)
STREAM_LIMITS = web.AppKey("stream_limits", StreamLimits)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)  # whose X-Forwarded-For to read
RULES_WATCH = web.AppKey("rules_watch", RulesWatch)  # ends streams whose rules changed
