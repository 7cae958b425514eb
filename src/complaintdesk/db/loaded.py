"""Instances put in a session as if a query had loaded them, from the columns of a
Core row: for a hot path that reads with one Core statement instead of the ORM's
loading (``services.accounts.authenticate``: the token, the staff member and their
projects in one row per project)."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Row, Table, inspect
from sqlalchemy.orm import Session, class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.util import identity_key

from complaintdesk.db.models import Base

M = TypeVar("M", bound=Base)


def column_keys(cls: type[Base]) -> tuple[str, ...]:
    """The attribute of each column of ``cls``'s table, in the table's order (the order
    of ``*table.c`` in a Core statement)."""
    table = cast(Table, cls.__table__)
    return tuple(inspect(cls).get_property_by_column(c).key for c in table.c)


def as_loaded(session: Session, cls: type[M], keys: tuple[str, ...], row: Row[Any], at: int) -> M:
    """The instance of ``cls`` whose columns are ``row[at:]`` (in its table's order,
    ``keys`` from :func:`column_keys`), in the session as if loaded by a query: the one
    the session holds already if any (as a query's loading would), else made from the
    row with no attribute events."""
    held = session.identity_map.get(identity_key(cls, row[at]))
    if isinstance(held, cls):
        return held
    obj = class_mapper(cls).class_manager.new_instance()
    values = instance_dict(obj)
    for n, key in enumerate(keys):
        values[key] = row[at + n]
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
