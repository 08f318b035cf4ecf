"""The application context: settings plus an engine and session factory built from them.

Created once per process (CLI invocation, scheduler, dashboard) and passed down; nothing
else holds global state.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from db.engine import make_engine, make_session_factory


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]

    @classmethod
    def create(cls, settings: Settings | None = None) -> AppContext:
        settings = settings or Settings.from_env()
        settings.ensure_dirs()
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine))

    def close(self) -> None:
        self.engine.dispose()
