"""What the caller's check costs in client CPU, piece by piece, and (``--against``)
another tree's ``accounts.authenticate`` beside this one's, alternating.

    .venv/bin/python bench/profile_caller.py [--calls 300] [--rounds 5]
        [--against /path/to/other/src/complaintdesk/services/accounts.py]

On a throw-away database set up as ``bench_create.py`` sets it up, in one thread on
one pooled connection, each call in its own session and transaction as a request's
(the BEGIN at checkout, ``db.engine.BEGIN_AT_CHECKOUT``): CPU microseconds a call of
psycopg's own ``SELECT 1``; an empty transaction through the session; a ``SELECT 1``
through the session; the token's statement through the session (rows only); the
whole ``authenticate`` (rows made into the staff member and projects). The modes
alternate, ``--calls`` each, ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_create import drop_database, make_database, populate  # noqa: E402


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("other_accounts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", help="another tree's services/accounts.py")
    args = parser.parse_args()

    from sqlalchemy import text

    from complaintdesk.db.engine import BEGIN_AT_CHECKOUT, make_engine, make_sessionmaker
    from complaintdesk.services import accounts

    load = os.getloadavg()[0]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load:.1f}")
    name, url = make_database(args.pg)
    try:
        setup = populate(url)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        factory = make_sessionmaker(engine)
        BEGIN_AT_CHECKOUT.set(True)
        one = text("SELECT 1")
        token = setup.tokens[0]

        def raw() -> None:
            with engine.connect() as c:
                dbapi = c.connection.dbapi_connection
                assert dbapi is not None
                dbapi.cursor().execute("SELECT 1").fetchall()
                c.commit()

        def empty() -> None:
            with factory() as s:
                s.connection()
                s.commit()

        def select_one() -> None:
            with factory() as s:
                s.execute(one).all()
                s.commit()

        def statement() -> None:
            with factory() as s:
                params = {"token_hash": accounts.hash_token(token), "now": datetime.now(UTC)}
                s.execute(accounts._AUTHENTICATE, params).all()
                s.commit()

        def check(module: ModuleType) -> Callable[[], None]:
            def run() -> None:
                with factory() as s:
                    assert module.authenticate(s, token, datetime.now(UTC)) is not None
                    s.commit()

            return run

        modes: dict[str, Callable[[], None]] = {
            "psycopg alone: checkout, BEGIN, SELECT 1, COMMIT": raw,
            "session: checkout, BEGIN, COMMIT": empty,
            "session: + SELECT 1": select_one,
            "session: + the token's statement (rows)": statement,
            "authenticate (this tree)": check(accounts),
        }
        if args.against:
            modes["authenticate (--against)"] = check(_load(args.against))
        results: dict[str, list[float]] = {m: [] for m in modes}
        for fn in modes.values():
            for _ in range(50):
                fn()
        for _ in range(args.rounds):
            for mode, fn in modes.items():
                t0 = time.thread_time_ns()
                for _ in range(args.calls):
                    fn()
                results[mode].append((time.thread_time_ns() - t0) / args.calls / 1000)
        engine.dispose()
    finally:
        drop_database(args.pg, name)
    print(f"client CPU µs a call ({args.calls} calls a run):")
    for mode, runs in results.items():
        print(f"  {mode:<60}" + " ".join(f"{r:6.0f}" for r in runs))
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
