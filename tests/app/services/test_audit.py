"""The audit log: recorded in the caller's transaction, read newest first, admins only."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.services import audit
from app.services.auth import Actor
from app.services.errors import PermissionDeniedError
from db.engine import unit_of_work
from db.models import Role


def test_events_are_listed_newest_first_with_paging(
    session_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(session_factory) as session:
        for i in range(5):
            audit.record(session, "ada", "thing.done", f"thing:{i}", {"i": i})
    with session_factory() as session:
        page = audit.list_events(session, limit=2, offset=1)
    assert page.total == 5
    assert [e.target for e in page.items] == ["thing:3", "thing:2"]
    assert page.items[0].details == {"i": 3}


def test_an_event_rolls_back_with_the_change_it_describes(
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), unit_of_work(session_factory) as session:
        audit.record(session, "ada", "thing.done")
        raise RuntimeError("the change failed")
    with session_factory() as session:
        assert audit.list_events(session).total == 0


def test_only_admins_read_the_log_from_the_dashboard(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        with pytest.raises(PermissionDeniedError):
            audit.list_events(session, actor=Actor("rita", Role.REVIEWER))
        assert audit.list_events(session, actor=Actor("ada", Role.ADMIN)).total == 0
