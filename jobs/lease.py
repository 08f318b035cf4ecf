"""Named leases in the ``lease`` table: a lock that expires when its holder stops renewing.

Used to keep exactly one scheduler enqueuing (APScheduler 3 must not share a job store between
two running schedulers). A second process started by mistake finds the lease held and waits;
when the holder dies its lease expires and the next :func:`try_acquire` wins it. Expiry is
compared with the clocks of the hosts involved, so they must be NTP-synchronised to well under
the lease length (60 s by default).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.services.runs import as_utc, aware
from db.engine import unit_of_work
from db.models import Lease

SCHEDULER_LEASE = "scheduler"


def try_acquire(
    session: Session, name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None
) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until ``now + ttl``."""
    now = as_utc(now)
    expires = now + timedelta(seconds=ttl_seconds)
    renewed = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount == 1:
        return True
    values = {"name": name, "holder": holder, "expires_at": expires, "acquired_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(Lease).values(values).on_conflict_do_nothing().returning(Lease.name)
    ).scalar_one_or_none()
    return inserted is not None


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease up at once (clean shutdown), so a standby need not wait for expiry."""
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=datetime(1970, 1, 1))
        .execution_options(synchronize_session=False)
    )


def current_holder(session: Session, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds the lease now (None when free or expired)."""
    lease = session.scalar(select(Lease).where(Lease.name == name))
    if lease is None or aware(lease.expires_at) < as_utc(now):  # type: ignore[operator]
        return None
    return lease.holder


class LeaseKeeper:
    """Holds a lease for this process and knows, without asking the database, if it still does.

    ``held`` turns False on its own once the last successful renewal is ``ttl`` seconds old
    (measured on the monotonic clock), so a leader cut off from the database stops acting as
    leader before anyone else can take over.
    """

    def __init__(
        self, factory: sessionmaker[Session], name: str, holder: str, ttl_seconds: float
    ) -> None:
        self.factory = factory
        self.name = name
        self.holder = holder
        self.ttl_seconds = ttl_seconds
        self._valid_until = 0.0

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def renew(self) -> bool:
        """Try to take or extend the lease; returns whether it is held now."""
        started = time.monotonic()
        try:
            with unit_of_work(self.factory) as session:
                ok = try_acquire(session, self.name, self.holder, self.ttl_seconds)
        except Exception:
            ok = False
        # Count from before the round trip: the database's expiry can't be earlier than that.
        self._valid_until = started + self.ttl_seconds if ok else 0.0
        return ok

    def release(self) -> None:
        self._valid_until = 0.0
        try:
            with unit_of_work(self.factory) as session:
                release(session, self.name, self.holder)
        except Exception:  # the lease expires by itself anyway
            pass
