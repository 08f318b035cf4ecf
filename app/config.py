"""The one configuration object.

Everything that differs between a laptop demo, a CI run and a plant installation comes from
``KDMON_*`` environment variables (optionally pre-loaded from a ``KDMON_CONFIG`` file of
``KEY=value`` lines), so the CLI, the scheduler process and the dashboard agree on where the
data lives without passing paths around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path("var")


def _read_config_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"{path}, line {number}: expected KEY=value, got {raw!r}")
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Settings:
    """Runtime settings; build with :meth:`from_env`, derive variants with :meth:`with_`."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    session_ttl_minutes: int = 8 * 60
    max_failed_logins: int = 5
    login_lockout_minutes: int = 15
    scheduler_timezone: str = "UTC"
    default_retrain_cron: str = "0 2 * * *"
    score_interval_minutes: int = 5
    inbox_interval_minutes: int = 5
    artifact_retention: int = 10
    torch_threads: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    pause_steps: int = 10
    """On time-ordered lines, a step between samples longer than this many median steps is a
    pause: windows are not joined across it (``app.services.stretches``). Generous on purpose:
    a few dropped readings are not a pause, an hour's stop of a minute-sampled line is."""

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{(self.data_dir / 'kdmon.db').as_posix()}"
            )

    @property
    def raw_dir(self) -> Path:
        """Where uploaded files are kept byte-for-byte."""
        return self.data_dir / "raw"

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def report_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def ensure_dirs(self) -> None:
        for path in (
            self.data_dir,
            self.raw_dir,
            self.artifact_dir,
            self.inbox_dir,
            self.report_dir,
            self.log_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        config_file = env.get("KDMON_CONFIG")
        if config_file:
            env = {**_read_config_file(Path(config_file)), **env}
        data_dir = Path(env.get("KDMON_DATA_DIR", str(DEFAULT_DATA_DIR)))
        kwargs: dict[str, object] = {
            "data_dir": data_dir,
            "database_url": env.get("KDMON_DATABASE_URL", ""),
        }
        int_fields = {
            "KDMON_SESSION_TTL_MINUTES": "session_ttl_minutes",
            "KDMON_MAX_FAILED_LOGINS": "max_failed_logins",
            "KDMON_LOGIN_LOCKOUT_MINUTES": "login_lockout_minutes",
            "KDMON_SCORE_INTERVAL_MINUTES": "score_interval_minutes",
            "KDMON_INBOX_INTERVAL_MINUTES": "inbox_interval_minutes",
            "KDMON_ARTIFACT_RETENTION": "artifact_retention",
            "KDMON_TORCH_THREADS": "torch_threads",
            "KDMON_PAUSE_STEPS": "pause_steps",
        }
        for key, name in int_fields.items():
            if key in env:
                try:
                    kwargs[name] = int(env[key])
                except ValueError as exc:
                    raise ValueError(f"{key} must be an integer, got {env[key]!r}") from exc
        for key, name in {
            "KDMON_TIMEZONE": "scheduler_timezone",
            "KDMON_RETRAIN_CRON": "default_retrain_cron",
        }.items():
            if key in env:
                kwargs[name] = env[key]
        return cls(**kwargs)  # type: ignore[arg-type]
