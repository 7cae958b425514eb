"""The command line: ``complaintdesk --help``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from complaintdesk.classify.cli import classify_command, model_app
from complaintdesk.runtime import Runtime, utcnow
from complaintdesk.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from complaintdesk.db.models import Staff

app = typer.Typer(
    help="ComplaintDesk: owner complaints, from intake to closing summary.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
staff_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


TOKENS_FILE = Path("var") / "demo-tokens.txt"


def _runtime() -> Runtime:
    return Runtime.from_settings(get_settings())


def _parse_now(now: str | None) -> datetime:
    if now is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(now)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {now!r}", param_hint="--now") from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            "give a time zone, e.g. 2026-11-23T09:00+08:00", param_hint="--now"
        )
    return parsed


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (Alembic)."""
    from complaintdesk.db.migrate import upgrade

    runtime = _runtime()
    upgrade(runtime.engine)
    typer.echo(
        f"database at {runtime.engine.url.render_as_string(hide_password=True)} is up to date"
    )


@db_app.command("partitions")
def db_partitions(
    ahead: Annotated[int, typer.Option(help="Months ahead of this one")] = 3,
    since: Annotated[
        str | None, typer.Option(help="Also every month from this ISO time (history to load)")
    ] = None,
) -> None:
    """Create the monthly partitions of complaint history (PostgreSQL) for this month
    and the next ones, ahead of need, and move rows that wait in a default partition
    into their month's; ``serve`` does this at start and every 6 hours."""
    from complaintdesk.db import partitions

    runtime = _runtime()
    report = partitions.run_maintenance(runtime.engine, utcnow(), ahead)
    if since is not None:
        with runtime.engine.begin() as connection:
            more = partitions.ensure(connection, _parse_now(since), utcnow())
        report.created += more.created
        report.waiting_in_default += more.waiting_in_default
        report.busy += more.busy
    typer.echo(
        json.dumps(
            {
                "created": report.created,
                "moved_from_default": report.moved,
                "waiting_in_default": report.waiting_in_default,
                "busy": report.busy,
            }
        )
    )


@db_app.command("compact")
def db_compact(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: the month settled most recently)")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="compact a month that has not settled yet (wasted work)")
    ] = False,
    fold: Annotated[
        bool,
        typer.Option(
            help="first fold each closed complaint's events into one row and rewrite the "
            "month's events partition online (reads wait only for its swap); --no-fold: "
            "the indexes only"
        ),
    ] = True,
) -> None:
    """Rebuild the indexes of a settled month of complaint history (PostgreSQL): the
    entries its rows' rewrites left half-empty are packed as the bulk path's. First
    (unless --no-fold) fold the events of its closed complaints whose messages are past
    retention into one row a complaint (both databases; db/folding.py), the events
    partition then rewritten beside itself and swapped in. Run it once a month (cron),
    for the month that ended two months before."""
    from complaintdesk.db import partitions

    settled = partitions.settled_month(utcnow())
    if month is None:
        chosen = settled
    else:
        try:
            chosen = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError as exc:
            raise typer.BadParameter(f"not YYYY-MM: {month!r}", param_hint="--month") from exc
        if chosen > settled and not force:
            raise typer.BadParameter(
                f"{month} has not settled: its complaints are still worked on and their "
                "rewrites would leave its indexes half empty again; the latest settled "
                f"month is {settled:%Y-%m} (--force to compact it anyway)",
                param_hint="--month",
            )
    report = partitions.compact_month(_runtime().engine, chosen, fold=fold)
    typer.echo(
        json.dumps(
            {
                "month": report.month,
                "partitions": report.tables,
                "index_bytes_before": report.index_bytes_before,
                "index_bytes_after": report.index_bytes_after,
                "dropped_unfinished": report.dropped,
                "discarded_rewrite_leftovers": report.discarded,
                "folded_complaints": report.folded,
                "folded_event_rows": report.folded_rows,
                "fold_seconds": round(report.fold_seconds, 3),
                "fold_complaints_per_second": round(report.fold_rate, 1),
                "rewritten": report.rewritten,
                "rewrite_seconds": round(report.rewrite_seconds, 3),
                "rewrite_busy": report.busy,
                "rewrite_again": report.again,
            }
        )
    )
    if report.busy or report.again:
        typer.echo(
            f"the events of {report.month} still hold the folded rows' room "
            f"({', '.join(report.busy + report.again)}): run "
            f"`complaintdesk db compact --month {report.month}` again",
            err=True,
        )


@db_app.command("warm")
def db_warm(
    budget: Annotated[
        str | None,
        typer.Option(
            help="At most this much, e.g. 512MB, 2GB (default: half of shared_buffers; "
            "never more than all of it)"
        ),
    ] = None,
) -> None:
    """Read the indexes every point read uses into PostgreSQL's shared buffers
    (pg_prewarm), in priority order within a budget: the complaints' primary keys
    newest month first, owner_complaints' primary key, then the small hot indexes
    (open work, the sweeper's); whole while they fit, the first blocks of the one that
    does not, none after it. One JSON line an index (blocks read, and what was left
    out for the budget), then the totals. Run it after a restart, a restore or a build; ``serve``
    runs it once at start."""
    from complaintdesk.db import warm

    try:
        wanted = warm.parse_size(budget) if budget is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from exc
    runtime = _runtime()
    if runtime.engine.dialect.name != "postgresql":
        typer.echo(
            f"nothing to warm: the database is {runtime.engine.dialect.name}, whose pages "
            "are the operating system's cache (pg_prewarm is for PostgreSQL)"
        )
        return
    try:
        report = warm.warm(runtime.engine, wanted)
    except warm.CannotWarm as exc:
        typer.echo(f"cannot warm: {exc}", err=True)
        raise typer.Exit(2) from exc
    for r in report.relations:
        line: dict[str, object] = {
            "index": r.name,
            "of": r.group,
            "blocks": r.blocks,
            "mb": round(r.mb, 2),
            "warmed_blocks": r.read_blocks,
        }
        if r.read:
            line["ms"] = round(r.seconds * 1000, 1)
        if r.gone:
            line["left_out"] = "gone since listed"
        elif r.left_blocks:
            line["left_out"] = "over the budget" if not r.read else "the rest, over the budget"
        typer.echo(json.dumps(line))
    typer.echo(
        json.dumps(
            {
                "budget_mb": round(report.budget_bytes / 2**20, 2),
                "shared_buffers_mb": round(report.shared_buffers_bytes / 2**20, 1),
                "budget_cut_to_shared_buffers": report.capped,
                "warmed": len(report.read),
                "warmed_blocks": report.read_blocks,
                "warmed_mb": round(report.read_blocks * warm.BLOCK / 2**20, 2),
                "left_out": len(report.left_out),
                "left_out_blocks": report.left_blocks,
                "left_out_mb": round(report.left_blocks * warm.BLOCK / 2**20, 2),
                "seconds": round(report.seconds, 2),
                "extension_created": report.created_extension,
            }
        )
    )


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes serving requests (production: cores)")
    ] = 1,
    workers_off: Annotated[
        bool,
        typer.Option(
            "--no-workers",
            help="Do not run the sweeper, delivery, maintenance and the warm at start",
        ),
    ] = False,
    access_log: Annotated[
        bool, typer.Option(help="One JSON line per request (request id, caller, route, time)")
    ] = True,
) -> None:
    """Serve the API (and /docs) with the sweeper and the delivery worker beside it
    (on PostgreSQL also ``db warm`` once at start, in the background; off with
    ``COMPLAINTDESK_WARM_AT_START=false``).

    Needs ``COMPLAINTDESK_NODE_ID``, the server's base node number: with ``--workers
    N`` its processes use nodes base … base + 2N, so give each server of a cluster
    its own range."""
    from complaintdesk import serving
    from complaintdesk.web.observe import configure_logging

    configure_logging()
    try:
        serving.serve(
            get_settings(),
            host=host,
            port=port,
            workers=workers,
            background=not workers_off,
            access_log=access_log,
        )
    except serving.CannotServe as exc:
        typer.echo(f"refusing to serve: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("sweep")
def sweep_command(
    now: Annotated[
        str | None, typer.Option(help="Sweep as of this ISO time (default: now)")
    ] = None,
) -> None:
    """Mark deadline breaches and escalate them (safe to run from several places at once)."""
    from complaintdesk.services.escalation import sweep

    report = sweep(_runtime().factory, _parse_now(now))
    typer.echo(
        json.dumps(
            {
                "checked": report.checked,
                "escalations": report.escalations,
                "upgraded": report.upgraded,
                "reminders": report.reminders,
            }
        )
    )


@app.command("purge-outbox")
def purge_outbox_command(
    retention_days: Annotated[
        float | None, typer.Option(help="Keep sent messages this long (default: settings)")
    ] = None,
) -> None:
    """Delete sent messages older than the retention, keeping each one's delivery
    record in the event that caused it (``serve`` does this periodically)."""
    from datetime import timedelta

    from complaintdesk.services.retention import purge_outbox

    runtime = _runtime()
    days = runtime.settings.outbox_retention_days if retention_days is None else retention_days
    report = purge_outbox(runtime.factory, utcnow(), retention=timedelta(days=days))
    typer.echo(json.dumps({"purged": report.purged, "events": report.recorded}))


@app.command("deliver")
def deliver_command() -> None:
    """Send every message due in the outbox now (``serve`` does this continuously)."""
    from complaintdesk.serving import deliverer

    once = deliverer(_runtime())
    totals = {"sent": 0, "retried": 0, "failed": 0}
    while True:
        report = once()
        for name in totals:
            totals[name] += getattr(report, name)
        if report.claimed == 0:
            break
    typer.echo(json.dumps(totals))


@app.command()
def demo(
    complaints: Annotated[int, typer.Option(help="How many complaints to make")] = 3000,
    seed: int = 7,
    owners: Annotated[int, typer.Option(help="Owners per project")] = 400,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if demo data is there")
    ] = False,
) -> None:
    """Load a demo company: projects, buildings, staff of every role, owners and
    complaints in both languages over six months, in every state."""
    from datetime import timedelta

    from complaintdesk.db import partitions
    from complaintdesk.db.migrate import upgrade
    from complaintdesk.demo import load_demo

    runtime = _runtime()
    upgrade(runtime.engine)
    with runtime.engine.begin() as connection:  # the demo's six months of history
        partitions.ensure(connection, utcnow() - timedelta(days=200), utcnow())
    result = load_demo(
        runtime.factory,
        complaints=complaints,
        seed=seed,
        now=utcnow(),
        if_empty=if_empty,
        owners_per_project=owners,
    )
    if result.created:
        # Tokens are stored hashed: keep this copy so the demo can be used later.
        TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
        TOKENS_FILE.write_text(f"{result}\n", encoding="utf-8")
        typer.echo(result)
    elif TOKENS_FILE.exists():
        typer.echo(TOKENS_FILE.read_text(encoding="utf-8"))
    else:
        typer.echo(result)


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="CSV, JSON Lines or Parquet file", exists=True, dir_okay=False),
    ],
    as_user: Annotated[str, typer.Option("--as", help="Username of the receiving staff")],
    project: Annotated[str | None, typer.Option(help="Project code for rows without one")] = None,
    company: Annotated[
        str | None,
        typer.Option(help="Company code (if the user name is not unique across companies)"),
    ] = None,
    deadlines: Annotated[
        str,
        typer.Option(
            help="Open rows' SLA clocks start 'now' or at their own 'received' time "
            "(late rows are then recorded as late, not escalated all at once)"
        ),
    ] = "now",
    batch: Annotated[int, typer.Option(help="Rows per committed batch")] = 5000,
    processes: Annotated[
        int, typer.Option(help="Processes that check and classify batches (PostgreSQL)")
    ] = 1,
    indexes: Annotated[
        str,
        typer.Option(
            help="The history tables' secondary indexes: 'auto' makes them after the load "
            "into a database without history (PostgreSQL), 'after' also refuses a database "
            "with history, 'keep' keeps them up to date during the load (docs/bulk.md)"
        ),
    ] = "auto",
) -> None:
    """Import complaints in bulk: loads the good rows, reports each rejected row with
    its line number and reason (exit code 1 if any). Closed history loads as closed,
    without messages. Run it again after an interruption: it resumes after the last
    committed line and never loads a row twice."""
    import sys

    from complaintdesk.domain.errors import InvalidInput
    from complaintdesk.services import bulk
    from complaintdesk.services.importer import Deadlines, Indexes, Progress, import_file

    try:
        mode = Deadlines(deadlines)
    except ValueError as exc:
        raise typer.BadParameter("'now' or 'received'", param_hint="--deadlines") from exc
    try:
        index_mode = Indexes(indexes)
    except ValueError as exc:
        raise typer.BadParameter("'auto', 'after' or 'keep'", param_hint="--indexes") from exc
    show = sys.stderr.isatty()

    def progress(p: Progress) -> None:
        if show:
            left = p.seconds_left
            eta = f"{left:,.0f} s left" if left is not None else ""
            typer.echo(
                f"\r{p.rows:,} rows  {p.rate:,.0f} rows/s  {p.fraction:.0%}  {eta}   ",
                err=True,
                nl=False,
            )

    factory = _runtime().factory
    try:
        report = import_file(
            factory,
            file,
            username=as_user,
            project_code=project,
            company_code=company,
            now=utcnow(),
            deadlines=mode,
            batch=batch,
            processes=processes,
            progress=progress,
            indexes=index_mode,
        )
    except InvalidInput as exc:
        typer.echo(f"\nrefused: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except bulk.TableBusy as exc:  # indexes left noted: a table held (docs/bulk.md)
        typer.echo(f"\nstopped: {exc}", err=True)
        raise typer.Exit(3) from exc
    except BaseException:
        _say_deferred(factory)
        raise
    if show:
        typer.echo("", err=True)
    if report.already_done:
        typer.echo(
            f"{file.name} was imported already (run {report.run_id}); nothing to do", err=True
        )
    elif report.resumed_after:
        typer.echo(f"resumed after line {report.resumed_after}", err=True)
    for rejected in report.rejected:
        typer.echo(f"line {rejected.line}: {rejected.reason}", err=True)
    done: dict[str, object] = {"imported": report.imported, "rejected": len(report.rejected)}
    if report.deferred_indexes:
        done["indexes_made_after_the_load"] = report.deferred_indexes
        done["index_seconds"] = round(report.index_seconds, 1)
    typer.echo(json.dumps(done))
    if report.rejected:
        raise typer.Exit(1)


def _say_deferred(factory: sessionmaker[Session]) -> None:
    """On an interrupted import: say so if indexes wait to be made after the load."""
    from complaintdesk.services import bulk

    try:
        with factory() as session:
            waiting = bulk.deferred_count(session)
    except Exception:
        return
    if waiting:
        typer.echo(
            f"\ninterrupted: {waiting} indexes of the history tables are not made yet; run "
            "the same import again to resume it: it makes them at its end (docs/bulk.md)",
            err=True,
        )


@app.command("generate")
def generate_command(
    rows: Annotated[int, typer.Option(help="How many complaints to make")] = 100_000,
    seed: int = 7,
    years: Annotated[float, typer.Option(help="How many years of history")] = 3.0,
    company: Annotated[str | None, typer.Option(help="Company code to create")] = None,
    processes: Annotated[int, typer.Option(help="Processes making rows (PostgreSQL)")] = 1,
    keep_indexes: Annotated[
        bool,
        typer.Option(
            help="Keep the secondary indexes during a load into an empty database "
            "(by default they are made after it: docs/bulk.md)"
        ),
    ] = False,
) -> None:
    """Make synthetic complaint history at speed (both languages, whole lifecycles,
    repeats, incidents, a share still open), through the bulk write path."""
    import sys

    from complaintdesk.db.migrate import upgrade
    from complaintdesk.services import bulk
    from complaintdesk.services.generate import generate

    runtime = _runtime()
    upgrade(runtime.engine)
    show = sys.stderr.isatty()

    def progress(done: int, seconds: float) -> None:
        if show:
            rate = done / seconds if seconds else 0.0
            left = (rows - done) / rate if rate else 0.0
            typer.echo(
                f"\r{done:,} complaints  {rate:,.0f}/s  {done / rows:.0%}  {left:,.0f} s left  ",
                err=True,
                nl=False,
            )

    try:
        report = generate(
            runtime.factory, rows=rows, now=utcnow(), seed=seed, years=years,
            company_code=company, processes=processes, progress=progress,
            defer_indexes=not keep_indexes,
        )  # fmt: skip
    except bulk.TableBusy as exc:  # indexes left noted: a table held (docs/bulk.md)
        typer.echo(f"\nstopped: {exc}", err=True)
        raise typer.Exit(3) from exc
    if show:
        typer.echo("", err=True)
    typer.echo(
        json.dumps(
            {
                "complaints": report.complaints,
                "events": report.events,
                "projects": report.projects,
                "owners": report.owners,
                "seconds": round(report.seconds, 1),
                "per_second": round(report.rate),
                "indexes_made_after_the_load": report.deferred_indexes,
                "index_seconds": round(report.index_seconds, 1),
            }
        )
    )


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Words to find, Chinese or English")],
    as_user: Annotated[str, typer.Option("--as", help="Search as this staff member")],
    company: Annotated[str | None, typer.Option(help="Company code")] = None,
    project: Annotated[str | None, typer.Option(help="Project code")] = None,
    newest: Annotated[
        bool, typer.Option("--newest", help="Newest first, not by relevance")
    ] = False,
    since: Annotated[str | None, typer.Option(help="Received at or after (ISO time)")] = None,
    until: Annotated[str | None, typer.Option(help="Received before (ISO time)")] = None,
    limit: int = 20,
) -> None:
    """Search complaints' words as a staff member sees them; one JSON line each."""
    from sqlalchemy import select

    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.db.models import Company, Project, Staff
    from complaintdesk.domain.errors import DomainError
    from complaintdesk.services import search
    from complaintdesk.services.queries import ComplaintFilter

    with unit_of_work(_runtime().factory) as session:
        who = select(Staff).where(Staff.username == as_user)
        if company is not None:
            who = who.join(Company, Company.id == Staff.company_id).where(Company.code == company)
        staff = session.scalars(who).all()
        if len(staff) != 1:
            typer.echo(f"{len(staff)} staff named {as_user!r}: give --company", err=True)
            raise typer.Exit(2)
        project_id = None
        if project is not None:
            project_id = session.scalar(
                select(Project.id).where(
                    Project.company_id == staff[0].company_id, Project.code == project
                )
            )
            if project_id is None:
                typer.echo(f"no project {project!r}", err=True)
                raise typer.Exit(2)
        flt = ComplaintFilter(
            project_id=project_id,
            received_from=_parse_now(since) if since else None,
            received_to=_parse_now(until) if until else None,
        )
        sort = search.SearchSort.NEWEST if newest else search.SearchSort.RELEVANCE
        try:
            page = search.search(session, staff[0], query, flt, utcnow(), sort=sort, limit=limit)
        except DomainError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(2) from exc
        for c in page.items:
            line = {
                "id": str(c.id),
                "received_at": c.received_at.isoformat(),
                "status": c.status,
                "category": c.category,
                "text": c.text,
            }
            typer.echo(json.dumps(line, ensure_ascii=False))
    since_text = page.searched_from.isoformat() if page.searched_from else "all history"
    typer.echo(f"{len(page.items)} shown; searched since {since_text}", err=True)


def _one_staff(session: Session, username: str, company: str | None) -> Staff:
    """The staff member named ``username`` (in ``company``), or exit 2 saying why."""
    from sqlalchemy import select

    from complaintdesk.db.models import Company, Staff

    query = select(Staff).where(Staff.username == username)
    if company is not None:
        query = query.join(Company, Company.id == Staff.company_id).where(Company.code == company)
    staff = session.scalars(query).all()
    if len(staff) != 1:
        typer.echo(f"{len(staff)} staff named {username!r}: give --company", err=True)
        raise typer.Exit(2)
    return staff[0]


CompanyOption = Annotated[str | None, typer.Option(help="Company code")]


@token_app.command("create")
def token_create(
    username: str,
    company: CompanyOption = None,
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    days: Annotated[int, typer.Option(help="Days until it expires")] = 90,
) -> None:
    """Issue a bearer token for a staff member (printed once), as the operator."""
    from datetime import timedelta

    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.services import accounts

    with unit_of_work(_runtime().factory) as session:
        staff = _one_staff(session, username, company)
        token = accounts.issue_token(session, staff, utcnow(), name=name, ttl=timedelta(days=days))
    typer.echo(token)  # only once it is committed


@token_app.command("list")
def token_list(username: str, company: CompanyOption = None) -> None:
    """A staff member's tokens (never the tokens themselves), one JSON line each."""
    from sqlalchemy import select

    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.db.models import ApiToken

    with unit_of_work(_runtime().factory) as session:
        staff = _one_staff(session, username, company)
        for token in session.scalars(
            select(ApiToken).where(ApiToken.staff_id == staff.id).order_by(ApiToken.id)
        ):
            typer.echo(
                json.dumps(
                    {
                        "id": str(token.id),
                        "name": token.name,
                        "created_at": token.created_at.isoformat(),
                        "expires_at": _iso(token.expires_at),
                        "last_used_at": _iso(token.last_used_at),
                        "revoked_at": _iso(token.revoked_at),
                    }
                )
            )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see ``token list``), as the operator."""
    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.db.models import ApiToken
    from complaintdesk.services import accounts

    with unit_of_work(_runtime().factory) as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            typer.echo(f"no token {token_id}", err=True)
            raise typer.Exit(2)
        accounts.revoke_token(session, None, token, utcnow())
    typer.echo(json.dumps({"revoked": str(token_id)}))


@staff_app.command("deactivate")
def staff_deactivate(username: str, company: CompanyOption = None) -> None:
    """Deactivate a staff member and revoke every token they hold, as the operator."""
    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.services import accounts

    with unit_of_work(_runtime().factory) as session:
        staff = _one_staff(session, username, company)
        revoked = accounts.deactivate(session, None, staff, utcnow())
    typer.echo(json.dumps({"deactivated": username, "tokens_revoked": revoked}))


@staff_app.command("password")
def staff_password(
    username: str,
    company: Annotated[str | None, typer.Option(help="Company code")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
) -> None:
    """Set a staff member's sign-in password for the pages (asked twice, not echoed)."""
    import sys

    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.domain.errors import InvalidInput
    from complaintdesk.services import org

    if password_stdin:
        raw = sys.stdin.readline().rstrip("\n")
    else:
        raw = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with unit_of_work(_runtime().factory) as session:
        staff = org.find_staff(session, username, company)
        if len(staff) != 1:
            typer.echo(f"{len(staff)} active staff named {username!r}: give --company", err=True)
            raise typer.Exit(2)
        try:
            org.set_password(session, staff[0], raw)
        except InvalidInput as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(2) from exc
    typer.echo(f"password of {username} set")


# The classifier's commands (its package owns them).
app.command("classify")(classify_command)
app.add_typer(model_app, name="model")


if __name__ == "__main__":
    app()
