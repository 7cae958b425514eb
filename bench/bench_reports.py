"""Time services/reports.report on a generated history, beside one grouped scan of
the whole table in the same run (the baseline): the dashboard costs its window, not
the history.

    complaintdesk db upgrade && complaintdesk generate --rows 200000 --years 1
    python bench/bench_reports.py "$DATABASE_URL"
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import func, select

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.models import Company, Complaint, Staff
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import org, reports
from complaintdesk.services.common import project_zone


def _best(fn: Callable[[], object], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(url: str) -> None:
    factory = make_sessionmaker(make_engine(url))
    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Complaint)) or 0
        newest = session.scalar(select(func.max(Complaint.received_at)))
        assert newest is not None
        company = session.scalars(select(Company)).first()
        assert company is not None
        admin = session.scalars(
            select(Staff).where(Staff.company_id == company.id, Staff.role == Role.ADMIN.value)
        ).first() or org.create_staff(
            session,
            company,
            username="bench-admin",
            name="bench",
            department=StaffDepartment.MANAGEMENT,
            role=Role.ADMIN,
        )  # never committed
        end = newest.astimezone(project_zone(None)).date()
        baseline = _best(
            lambda: session.execute(
                select(Complaint.nature, func.count()).group_by(Complaint.nature)
            ).all()
        )
        print(f"{total} complaints; baseline (one grouped scan of the table): {baseline:.3f} s")
        for days in (7, 30, 90, 366):
            filters = reports.Filters(end - timedelta(days=days - 1), end)
            seconds = _best(partial(reports.report, session, admin, filters))
            r = reports.report(session, admin, filters)
            print(
                f"{days:>4} days ({r.rates.received + r.rates.withdrawn:>6} complaints): "
                f"{seconds:.3f} s = {seconds / baseline:.2f} x baseline"
            )


if __name__ == "__main__":
    main(sys.argv[1])
