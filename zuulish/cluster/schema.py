"""A component starts only against the schema it was written for.

``zuulish run`` (the embedded mode) upgrades the schema itself; a component of a
distributed deployment never does: two versions of zuulish may be running, and the
operator decides when the schema moves (``zuulish db upgrade``).
"""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from zuulish.errors import StoreUnavailable
from zuulish.store.database import MIGRATIONS_DIR, Store


def head_revision() -> str:
    """The newest schema revision this zuulish knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}


class SchemaMismatch(StoreUnavailable):
    """The database's schema is not the one this zuulish needs."""


def check_schema(store: Store, component: str, config_path: str = "zuulish.yaml") -> str:
    """The schema revision, when it is this zuulish's own; SchemaMismatch saying what to
    do when it is older (run ``db upgrade``) or newer (upgrade zuulish on this host)."""
    store.check()
    current = store.current_revision()
    head = head_revision()
    if current == head:
        return current
    upgrade = f"zuulish -c {config_path} db upgrade"
    if current is None:
        raise SchemaMismatch(
            f"{component}: the database has no zuulish schema yet; create it with "
            f"`{upgrade}` (once, from one host), then start the components")
    if current in known_revisions():
        raise SchemaMismatch(
            f"{component}: the database schema is at revision {current}, older than this "
            f"zuulish's {head}; stop the components of the older version and run "
            f"`{upgrade}`, then start them again")
    raise SchemaMismatch(
        f"{component}: the database schema is at revision {current}, which this zuulish "
        f"(schema {head}) does not know: it was upgraded by a newer zuulish; install that "
        "version on this host")
