"""Every feature module that declares routes on ``zuulish.web.endpoints.API``: importing
this module registers them all (one import per module)."""

from zuulish.web import (  # noqa: F401
    auth_routes,
    catalog_routes,
    core_routes,
    history_routes,
    manage_routes,
    metrics_routes,
    status_routes,
    ticket_routes,
)
