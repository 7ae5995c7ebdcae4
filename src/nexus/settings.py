"""Settings from environment variables (``NEXUS_…``) and a ``.env`` file in the working
directory."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".nexus"


class Settings(BaseSettings):
    """Where Nexus keeps its data and which model it uses by default.

    ``home``: ``NEXUS_HOME`` (default ``~/.nexus``); the SQLite store and run
    workspaces live below it. ``database_url``: ``NEXUS_DATABASE_URL``, e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:5432/nexus``; empty means the
    SQLite file ``$NEXUS_HOME/nexus.db``.
    """

    model_config = SettingsConfigDict(
        env_prefix="NEXUS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default_factory=_default_home)
    database_url: str = ""
    default_model: str = "offline:replay"
    max_concurrency: int = Field(64, ge=1)
    lease_ttl_s: float = Field(30.0, gt=0)
    log_level: str = "WARNING"

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'nexus.db'}"

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "workspaces"
