"""Schemathesis against the API's own OpenAPI document, in-process (ASGI), on a
throw-away database loaded with the demo company, as every role and as nobody.

    .venv/bin/python bench/schemathesis_run.py            # make schemathesis
    .venv/bin/python bench/schemathesis_run.py --examples 20 --database postgresql

For each caller (administrator, project manager, customer-service agent, guard,
cleaner, no token, an invalid token) and each operation of the document, Hypothesis
generates requests from the schema: ``--examples`` that fit it (positive) and as many
that do not (negative); operations with ids in the path get another ``--examples``
positive ones with ids of real demo rows, so that they reach more than 404. Every
answer is checked by Schemathesis: no server error, a status code and a media type the
document declares, a body that fits the declared schema, the declared headers, invalid
requests refused. Besides, every positive request refused with 422 is counted by
operation and field: the "accepted by the schema, refused by the server" cases, each
of which should be a rule the document cannot state (docs/operations.md lists them).

Not part of ``make test`` (a few minutes). Prints the figures; exits 1 if any request
broke a check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# One caller stands for many clients here: the per-token and per-address limits would
# answer 429 to most of the run. Set before the settings are first read.
os.environ.setdefault("COMPLAINTDESK_TOKEN_REQUESTS_PER_MINUTE", "100000000")
os.environ.setdefault("COMPLAINTDESK_ADDRESS_REQUESTS_PER_MINUTE", "100000000")
os.environ.setdefault("COMPLAINTDESK_FAILED_TOKENS_PER_MINUTE", "100000000")
os.environ.setdefault("COMPLAINTDESK_PERSONAL_LOOKUPS_PER_MINUTE", "100000000")
os.environ.setdefault("COMPLAINTDESK_ACCESS_LOG", "0")

import hypothesis
import psycopg
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.engine import make_url

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Complaint, Owner, Project, Staff
from complaintdesk.demo import load_demo
from complaintdesk.services import accounts
from complaintdesk.web.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
CALLERS = ["admin", "ch-manager", "ch-agent", "ch-guard", "ch-cleaner", "no token", "bad token"]


@dataclass
class Tally:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # failure kind -> one example
    refused_positive: Counter[str] = field(default_factory=Counter)  # "op: field"
    refused_example: dict[str, str] = field(default_factory=dict)
    by_caller: dict[str, Counter[int]] = field(default_factory=dict)
    caller: str = ""


def make_database(kind: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database and how to drop it."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'schemathesis.db'}", lambda: None
    admin = os.environ.get("COMPLAINTDESK_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
    admin = make_url(admin).set(drivername="postgresql").render_as_string(False)
    name = f"trust_st_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(admin).set(database=name).render_as_string(False), drop


def _field(body: Any) -> str:
    try:
        errors = body.get("errors") or []
        return ",".join(sorted({str(e.get("field")) for e in errors})) or "-"
    except AttributeError:
        return "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=25, help="per operation, caller, mode")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--complaints", type=int, default=300, help="demo complaints")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="an example of each")
    args = parser.parse_args()
    verbose = args.verbose
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    started = time.monotonic()
    load = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="trust-st-"))
    url, drop = make_database(args.database, workdir)
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        now = datetime.now(UTC)
        demo = load_demo(factory, complaints=args.complaints, seed=7, now=now)
        tokens: dict[str, str] = {k: v for k, v in demo.tokens.items() if k in CALLERS}
        with unit_of_work(factory) as session:
            cleaner = session.scalars(select(Staff).where(Staff.username == "ch-cleaner")).one()
            tokens["ch-cleaner"] = accounts.issue_token(session, cleaner, now, name="st")
            # A colleague nobody else uses: the path's staff is deactivated along the way.
            gardener = session.scalars(select(Staff).where(Staff.username == "ch-gardener")).one()
            project = session.scalars(select(Project).where(Project.code == "CH")).first()
            assert project is not None
            real = {
                "complaint_id": session.scalars(
                    select(Complaint.id).where(Complaint.project_id == project.id).limit(1)
                ).one(),
                "owner_id": session.scalars(select(Owner.id).limit(1)).one(),
                "project_id": project.id,
                "staff_id": gardener.id,
                "token_id": 1,
            }
        app = create_app(factory, classifier=KeywordClassifier())
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        tally = Tally()
        print(
            f"{len(operations)} operations x {len(CALLERS)} callers, --examples {args.examples}, "
            f"{args.database}, seed {seed}, load {load:.2f}",
            flush=True,
        )
        for caller in CALLERS:
            if caller == "no token":
                headers: dict[str, str] = {}
            elif caller == "bad token":
                headers = {"Authorization": "Bearer cdk_not-a-real-token-at-all"}
            else:
                headers = {"Authorization": f"Bearer {tokens[caller]}"}
            tally.caller = caller
            for operation in operations:
                path_names = [p.name for p in operation.path_parameters]
                runs: list[tuple[GenerationMode, dict[str, Any] | None]] = [
                    (GenerationMode.POSITIVE, None),
                    (GenerationMode.NEGATIVE, None),
                ]
                if path_names and all(n in real for n in path_names):
                    runs.append((GenerationMode.POSITIVE, {n: str(real[n]) for n in path_names}))
                for mode, path_parameters in runs:
                    run_one(operation, mode, path_parameters, headers, args.examples, seed, tally)
            print(f"  {caller}: {tally.requests:,} requests so far", flush=True)
    finally:
        engine.dispose()
        drop()
    elapsed = time.monotonic() - started
    print()
    print(f"requests: {tally.requests:,} in {elapsed:.0f} s ({args.database}; load {load:.2f})")
    print("statuses:", ", ".join(f"{s}: {n:,}" for s, n in sorted(tally.by_status.items())))
    for caller, statuses in tally.by_caller.items():
        print(f"  {caller}:", ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items())))
    print("check failures:", dict(tally.failures) or 0)
    for kind, example in tally.examples.items():
        print(f"  {kind}: {example}")
    print("positive requests refused with 422 (operation: field):")
    for where, n in tally.refused_positive.most_common():
        print(f"  {n:6,}  {where}")
        if verbose:
            print(f"          e.g. {tally.refused_example[where]}")
    return 1 if tally.failures else 0


def run_one(
    operation: Any,
    mode: GenerationMode,
    path_parameters: dict[str, Any] | None,
    headers: dict[str, str],
    examples: int,
    seed: int,
    tally: Tally,
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=strategy, _n=st.just(0))
    def test(case: Any, _n: int) -> None:
        response = case.call(headers=headers)
        tally.requests += 1
        tally.by_status[response.status_code] += 1
        tally.by_caller.setdefault(tally.caller, Counter())[response.status_code] += 1
        if response.status_code == 401 and tally.caller not in ("no token", "bad token"):
            tally.examples.setdefault(
                "401 with a valid token",
                f"{case.method} {case.formatted_path} headers={case.headers} {response.text[:200]}",
            )
        if mode is GenerationMode.POSITIVE and response.status_code == 422:
            try:
                body = response.json()
            except ValueError:
                body = None
            where = f"{operation.label}: {_field(body)}"
            tally.refused_positive[where] += 1
            tally.refused_example.setdefault(
                where, f"query={case.query} body={str(case.body)[:160]} -> {response.text[:240]}"
            )
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                _count(tally, failure, operation.label, case, response)
        except Failure as failure:
            _count(tally, failure, operation.label, case, response)

    # Nothing to negate in an operation without parameters or body: unsatisfiable.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        test()


def _count(tally: Tally, failure: Failure, label: str, case: Any, response: Any) -> None:
    kind = f"{type(failure).__name__} ({label})"
    tally.failures[kind] += 1
    if kind not in tally.examples:
        tally.examples[kind] = (
            f"{failure.title}: {case.method} {case.formatted_path} query={case.query} "
            f"body={str(case.body)[:200]} -> {response.status_code} {response.text[:300]}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
