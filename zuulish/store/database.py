"""The store: one SQLAlchemy engine, explicit sessions, schema upgrades."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from zuulish.errors import StoreUnavailable
from zuulish.store.notify import Notifier

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


#: PostgreSQL's SQLSTATE for a session it ended because its transaction sat idle past
#: ``idle_in_transaction_session_timeout`` (the process was paused or cut off)
IDLE_TRANSACTION_ENDED = "25P03"


def database_away(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be used just now, so the work is
    to be tried again: it is down or cut off, or the server ended this session (its
    transaction sat idle too long, see :func:`make_engine`). Anything else is a bug."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated
        or getattr(exc.orig, "sqlstate", None) == IDLE_TRANSACTION_ENDED)


def away_reason(exc: BaseException) -> str:
    """The first line of what the database (or its driver) said."""
    said = str(getattr(exc, "orig", None) or exc).strip()
    return said.splitlines()[0] if said else type(exc).__name__


def after_commit(session: Session, action: Callable[..., object], *args: object) -> None:
    """Call ``action(*args)`` once ``session``'s transaction has committed, never if it
    rolls back: for effects outside the database that must follow only what was
    written (a metric's count). The store's sessions each hold one transaction."""
    event.listen(session, "after_commit", lambda _session: action(*args), once=True)


# PostgreSQL URLs without a driver (``postgres://`` as Heroku and libpq users write
# them, and SQLAlchemy's ``postgresql://``, whose default driver is psycopg2) use the
# driver zuulish ships with: psycopg 3.
POSTGRES_WITHOUT_DRIVER = frozenset({"postgres", "postgresql"})
POSTGRES_DRIVER = "postgresql+psycopg"


def normalise_url(url: str) -> str:
    """``url`` with a PostgreSQL URL that names no driver given psycopg 3's."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailable(f"database URL {url!r} is not valid: {exc}") from exc
    if parsed.drivername in POSTGRES_WITHOUT_DRIVER:
        return parsed.set(drivername=POSTGRES_DRIVER).render_as_string(hide_password=False)
    return url


def make_engine(url: str, idle_transaction_timeout: float | None = None) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL mode and a busy timeout.

    On PostgreSQL, ``idle_transaction_timeout`` (seconds) has the server end a
    session whose transaction stays idle that long (``idle_in_transaction_session_timeout``):
    a process paused or cut off in the middle of a transaction then releases its row
    locks, instead of stalling every writer that needs those rows until it resumes.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"database URL {url!r}: cannot create {folder}: "
                                       f"{exc.strerror or exc}") from exc
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)

        # SQLite's own BEGIN is deferred; start write transactions eagerly so
        # concurrent writers queue on the busy timeout instead of failing.
        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            if conn.get_execution_options().get("zuulish_read_only"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    connect_args = {}
    if idle_transaction_timeout is not None:  # added to the URL's own options, if any
        given = parsed.query.get("options")
        connect_args["options"] = " ".join([
            *([given] if isinstance(given, str) else list(given or ())),
            f"-c idle_in_transaction_session_timeout="
            f"{max(1, round(idle_transaction_timeout * 1000))}"])
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args=connect_args)
    except ModuleNotFoundError as exc:
        raise StoreUnavailable(f"no database driver for {url!r}: {exc}") from exc
    except NoSuchModuleError as exc:
        raise StoreUnavailable(f"database URL {url!r}: no database of kind "
                               f"{parsed.drivername!r}; use sqlite:///PATH or "
                               "postgresql+psycopg://USER@HOST/NAME") from exc


class Store:
    """Access to the database shared by every component."""

    def __init__(self, url: str, notifier: Notifier | None = None, *,
                 idle_transaction_timeout: float | None = None):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, idle_transaction_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(zuulish_read_only=True), expire_on_commit=False)
        if notifier is None and not self.is_sqlite:
            from zuulish.store.pg_wakeups import connect_args
            notifier = Notifier(connect_args(self.engine))
        self.notifier = notifier or Notifier()
        # (thread, check): every write transaction begun on that thread first calls
        # check(session) — the active scheduler's lease fencing (cluster/lease.py)
        self.fence: tuple[threading.Thread, Callable[[Session], None]] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on error.

        On SQLite it takes the write lock at once (``BEGIN IMMEDIATE``), so
        concurrent writers queue instead of failing; never open one inside another.
        """
        with self.sessions() as session:
            try:
                fence = self.fence
                if fence is not None and fence[0] is threading.current_thread():
                    fence[1](session)
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction. On SQLite it takes no write lock, so it may be
        opened while another thread (or this one) holds a write transaction."""
        with self.read_sessions() as session:
            yield session  # closing ends the transaction; loaded objects stay usable

    def lock(self, session: Session, name: str) -> None:
        """Serialise transactions that take the lock ``name`` until this one ends.

        PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing,
        since every write transaction already holds the database's write lock.
        """
        if self.is_sqlite:
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def check(self) -> None:
        """Fail with a clear message if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreUnavailable(
                f"cannot reach the database at {self.engine.url!r}: {reason}"
            ) from exc

    def upgrade(self) -> str:
        """Bring the schema to the newest Alembic revision; return it."""
        from alembic import command
        from alembic.config import Config

        self.check()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return self.current_revision() or ""

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def dispose(self) -> None:
        """Close the database connections, the notifier's included."""
        self.notifier.close()
        self.engine.dispose()
