"""Read the indexes every point read uses into PostgreSQL's shared buffers
(``complaintdesk db warm``; ``serve`` once at start).

A cold owner history page at 30 million complaints reads about 43 blocks from outside
PostgreSQL's memory one after another, 21 of them leaves of the months' primary keys
(docs/capacity.md, "30 million (session 10)"). A service that has run for a while
keeps those keys in memory; one just restarted, restored or built does not, and
nothing made sure it would. This makes it an operated fact: PostgreSQL's own
``pg_prewarm`` (contrib) reads, in priority order and within a budget of bytes:

1. the complaints partitions' primary keys, newest month first (every read of one
   complaint, an owner's history page, the sweeper's join, the list's id ranges);
2. ``owner_complaints``' primary key (an owner's history: the owner's ids);
3. the small indexes the other hot reads use: the open-work partial indexes of
   complaints (an agent's queue, a project's overdue list, open work newest first),
   newest month first; ``sla_checks``' (the sweeper); ``complaint_departments``'
   primary key (the co-handling codes beside every page shown).

The relations are read whole in that order until the budget is spent; the one that
does not fit in what is left is read in part (its first blocks: a random probe of
an index finds its leaf in memory about as often as the part read is of the whole,
whatever the order its leaves are in), and the ones after it are left out; each
said. Reading is not pinning: the buffers stay in PostgreSQL's ordinary
replacement, where the blocks that reads keep using stay.

The budget defaults to half of ``shared_buffers`` (the rest is for the heap pages
and the indexes the writes and other reads use) and is never more than
``shared_buffers`` (what would be read last would evict what was read first).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

BLOCK = 8192
DEFAULT_SHARE = 0.5
"""The default budget: this share of ``shared_buffers``."""

PRIMARY_KEYS = "complaints' primary key"
OWNER_KEY = "owner_complaints' primary key"
SMALL = "small hot index"

# What is read, in priority order: (group, parent index). A partitioned index stands
# for its partitions' indexes, newest month first; a plain index for itself.
HOT_INDEXES: tuple[tuple[str, Sequence[str]], ...] = (
    (PRIMARY_KEYS, ("pk_complaints",)),
    (OWNER_KEY, ("pk_owner_complaints",)),
    (
        SMALL,
        (
            # The open-work partial indexes (db/models.py): they follow the open work.
            "ix_complaints_open_assignee_due",
            "ix_complaints_open_receiver",
            "ix_complaints_open_assignee_follow_up",
            "ix_complaints_open_receiver_follow_up",
            "ix_complaints_open_project_due",
            "ix_complaints_open_id",
            # The sweeper's due list and the co-handling codes of every page shown.
            "ix_sla_checks_due",
            "pk_sla_checks",
            "pk_complaint_departments",
        ),
    ),
)

CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_prewarm"


class CannotWarm(RuntimeError):
    """The extension is missing and this role may not (or cannot) create it, or the
    role may not read an index; the message says what to run, and as whom."""


@dataclass
class Relation:
    name: str
    """Schema-qualified, quoted as SQL needs it."""
    group: str
    blocks: int
    planned: int = 0
    """Blocks to read within the budget: all of them, the first few, or none."""
    read_blocks: int = 0
    gone: bool = False
    """Dropped between the listing and its turn (a month's index rebuilt by ``db
    compact`` is read under the same name; one detached is not there any more)."""
    seconds: float = 0.0

    @property
    def mb(self) -> float:
        return self.blocks * BLOCK / 2**20

    @property
    def read(self) -> bool:
        return self.read_blocks > 0

    @property
    def left_blocks(self) -> int:
        """Blocks not read (for the budget, or because it went meanwhile)."""
        return self.blocks - self.read_blocks


@dataclass
class Warming:
    engine: str
    budget_bytes: int = 0
    shared_buffers_bytes: int = 0
    capped: bool = False
    """The budget asked for was more than ``shared_buffers``: it was cut to it."""
    relations: list[Relation] = field(default_factory=list)
    seconds: float = 0.0
    created_extension: bool = False
    stopped: bool = False
    """Stopped before the end (``serve`` shutting down)."""

    @property
    def read(self) -> list[Relation]:
        return [r for r in self.relations if r.read]

    @property
    def left_out(self) -> list[Relation]:
        """Relations left out for the budget, whole or in part."""
        return [r for r in self.relations if r.left_blocks > 0 and not r.gone]

    @property
    def read_blocks(self) -> int:
        return sum(r.read_blocks for r in self.relations)

    @property
    def left_blocks(self) -> int:
        return sum(r.left_blocks for r in self.left_out)


_UNITS = {"kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}


def parse_size(value: str) -> int:
    """Bytes from ``512MB``, ``2GB``, ``1.5 GB``, ``64kB`` (PostgreSQL's units, any case;
    a bare number is MB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT][bB])?\s*", value)
    if match is None:
        raise ValueError(f"not a size: {value!r} (e.g. 512MB, 2GB)")
    unit = _UNITS[(match.group(2) or "mb").lower()]
    return int(float(match.group(1)) * unit)


def shared_buffers(connection: Connection) -> int:
    """The server's ``shared_buffers``, in bytes."""
    found = connection.execute(
        text(
            "SELECT setting::bigint * (SELECT setting::bigint FROM pg_settings "
            "WHERE name = 'block_size') FROM pg_settings WHERE name = 'shared_buffers'"
        )
    ).scalar()
    return int(found or 0)


def hot_relations(connection: Connection) -> list[Relation]:
    """The indexes to read, in priority order, with their sizes; a partitioned index's
    partitions newest month first (by their range's lower bound; the default
    partition's last). Indexes this schema does not have (an older revision) are
    skipped."""
    found: list[Relation] = []
    for group, parents in HOT_INDEXES:
        rows = connection.execute(
            text(
                "WITH parent AS ("
                "  SELECT p.oid, p.relkind, ord FROM unnest(CAST(:names AS text[])) "
                "  WITH ORDINALITY AS n(name, ord) JOIN pg_class p ON p.oid = to_regclass(n.name)"
                "), leaf AS ("
                "  SELECT parent.ord, t.relid AS oid FROM parent, pg_partition_tree(parent.oid) t"
                "  WHERE parent.relkind = 'I' AND t.isleaf"
                "  UNION ALL SELECT ord, oid FROM parent WHERE relkind = 'i'"
                ") "
                "SELECT format('%I.%I', n.nspname, c.relname), pg_relation_size(c.oid), "
                "  substring(pg_get_expr(t.relpartbound, t.oid) "
                "    FROM 'FROM \\(''?(\\d+)')::numeric, leaf.ord "
                "FROM leaf JOIN pg_class c ON c.oid = leaf.oid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE x.indisvalid"
            ),
            {"names": list(parents)},
        ).all()
        # Newest month first across the group's indexes (a month's open work together),
        # then the group's order; partitions without a range (the default one, a plain
        # index) last.
        ranked = sorted(rows, key=lambda r: (r[2] is None, -(r[2] or 0), r[3]))
        found += [Relation(name=r[0], group=group, blocks=int(r[1]) // BLOCK) for r in ranked]
    return found


def choose(relations: Sequence[Relation], budget: int) -> None:
    """Plan each relation's blocks to read within ``budget`` bytes, in order: whole
    while they fit, the first blocks of the one that does not, none after it."""
    left = budget // BLOCK
    for relation in relations:
        relation.planned = min(relation.blocks, left)
        left -= relation.planned


def _extension_schema(connection: Connection) -> str | None:
    found = connection.execute(
        text(
            "SELECT format('%I', n.nspname) FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_prewarm'"
        )
    ).scalar()
    return str(found) if found is not None else None


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def ensure_extension(connection: Connection, *, create: bool = True) -> tuple[str, bool]:
    """The schema of ``pg_prewarm``'s functions, created first if missing and
    ``create`` (and whether it was), or :class:`CannotWarm` saying which SQL a
    superuser must run."""
    schema = _extension_schema(connection)
    if schema is not None:
        return schema, False
    database = connection.execute(text("SELECT current_database()")).scalar()
    role = connection.execute(text("SELECT current_user")).scalar()
    if not create:
        raise CannotWarm(
            f"the extension pg_prewarm is not in database {database!r}: run "
            "`complaintdesk db warm` once (it creates it, as a role that may), or have a "
            f"superuser run there: {CREATE_EXTENSION};"
        )
    try:
        connection.execute(text(CREATE_EXTENSION))
    except DBAPIError as exc:
        state = _sqlstate(exc)
        first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        if state == "42501":  # insufficient_privilege
            raise CannotWarm(
                f"the extension pg_prewarm is not in database {database!r} and role {role!r} "
                f"may not create it ({first}). A superuser must run once, in that database: "
                f"{CREATE_EXTENSION};"
            ) from exc
        if state == "25006":  # read_only_sql_transaction: a standby
            raise CannotWarm(
                f"the extension pg_prewarm is not in database {database!r}, and this server "
                f"is read-only (a standby). On the primary, a superuser must run: "
                f"{CREATE_EXTENSION}; (it reaches the standbys by replication)"
            ) from exc
        raise CannotWarm(
            f"could not create the extension pg_prewarm in database {database!r}: {first}. "
            "It is in PostgreSQL's contrib (Debian's postgresql-15 package ships it); "
            f"once installed, a superuser runs: {CREATE_EXTENSION};"
        ) from exc
    schema = _extension_schema(connection)
    assert schema is not None
    return schema, True


@contextmanager
def _own_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to ``engine``'s database that is none of its pool's (an engine of
    its own without a pool: opened here, closed on leaving), in autocommit."""
    own = create_engine(engine.url, poolclass=NullPool)
    try:
        with own.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        own.dispose()


def warm(
    engine: Engine,
    budget: int | None = None,
    *,
    stop: Callable[[], bool] = lambda: False,
    create: bool = True,
) -> Warming:
    """Read the hot indexes (:data:`HOT_INDEXES`) into shared buffers within ``budget``
    bytes (default: :data:`DEFAULT_SHARE` of ``shared_buffers``; at most all of it), one
    ``pg_prewarm(…, 'buffer')`` a relation, in priority order, on a connection of its
    own (none of ``engine``'s pool); ``stop`` is asked between relations. Nothing to
    do on SQLite (a report with no relations). :class:`CannotWarm` when the extension
    is missing and may not be created here, or is missing and ``create`` is false."""
    report = Warming(engine=engine.dialect.name)
    if engine.dialect.name != "postgresql":
        return report
    started = time.monotonic()
    with _own_connection(engine) as connection:
        schema, report.created_extension = ensure_extension(connection, create=create)
        report.shared_buffers_bytes = shared_buffers(connection)
        wanted = int(report.shared_buffers_bytes * DEFAULT_SHARE) if budget is None else int(budget)
        report.capped = wanted > report.shared_buffers_bytes
        report.budget_bytes = min(wanted, report.shared_buffers_bytes)
        report.relations = hot_relations(connection)
        choose(report.relations, report.budget_bytes)
        for relation in report.relations:
            if relation.planned == 0:
                continue
            if stop():
                report.stopped = True
                break
            began = time.monotonic()
            try:
                # Its first ``planned`` blocks (all of them, unless it is the one read
                # in part), never more than it has now (rebuilt smaller meanwhile);
                # nothing (NULL) for an index dropped since it was listed.
                blocks = connection.execute(
                    text(
                        f"SELECT {schema}.pg_prewarm(r, 'buffer', 'main', 0, "
                        "least(:last, pg_relation_size(r) / 8192 - 1)) "
                        "FROM (SELECT to_regclass(:name) AS r) AS x "
                        "WHERE pg_relation_size(r) > 0"
                    ),
                    {"name": relation.name, "last": relation.planned - 1},
                ).scalar()
            except DBAPIError as exc:
                if _sqlstate(exc) == "42501":
                    role = connection.execute(text("SELECT current_user")).scalar()
                    raise CannotWarm(
                        f"role {role!r} may not read {relation.name} (pg_prewarm needs "
                        "SELECT on it: run db warm as the tables' owner)"
                    ) from exc
                raise
            relation.seconds = time.monotonic() - began
            if blocks is None:  # dropped since it was listed
                relation.gone = True
            else:
                relation.read_blocks = int(blocks)
    report.seconds = time.monotonic() - started
    return report


def summary(report: Warming) -> str:
    """One line for a log: what was read, what was left out, in how long."""
    left = report.left_out
    return (
        f"warmed {len(report.read)} indexes, {report.read_blocks * BLOCK / 2**20:,.1f} MB, "
        f"in {report.seconds:.1f} s; left out for the budget of "
        f"{report.budget_bytes / 2**20:,.0f} MB: {len(left)}, whole or in part "
        f"({report.left_blocks * BLOCK / 2**20:,.1f} MB)"
    )


def warm_and_log(engine: Engine, stop: Callable[[], bool] = lambda: False) -> Warming | None:
    """:func:`warm` with the default budget, its outcome logged, never raising (``serve``
    runs it once at start in a thread of its own). It never creates the extension: a
    server does not change the schema at start (``complaintdesk db warm`` does, once);
    without it, it says so in the log and reads nothing."""
    try:
        report = warm(engine, stop=stop, create=False)
    except CannotWarm as exc:
        log.warning("not warming the hot indexes: %s", exc)
        return None
    except Exception:
        log.exception("warming the hot indexes failed (serving goes on)")
        return None
    if report.engine == "postgresql":
        log.info("%s", summary(report))
    return report
