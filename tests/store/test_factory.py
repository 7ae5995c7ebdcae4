"""Choosing a store from its URL, and the package's exports."""

from __future__ import annotations

from pathlib import Path

import pytest

import nexus.store
from nexus.errors import ConfigError
from nexus.settings import Settings
from nexus.store import MemoryStore, RunStore, open_store
from nexus.store.sql import PostgresStore, SqliteStore


@pytest.mark.parametrize("url", ["memory://", "sqlite://", "sqlite:///:memory:"])
def test_memory_urls(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, MemoryStore)
    assert store.url == url


def test_sqlite_file_urls(tmp_path: Path) -> None:
    absolute = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    relative = open_store("sqlite:///data/nexus.db")
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "x.db"
    assert isinstance(relative, SqliteStore) and relative.path == Path("data/nexus.db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgres://postgres@127.0.0.1:5432/test",
    ],
)
def test_postgres_urls(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/test")


def test_postgres_schema_parameter_is_checked() -> None:
    store = open_store("postgresql+psycopg://u:secret@127.0.0.1/db?schema=nexus_1")
    assert isinstance(store, PostgresStore)
    assert store.schema == "nexus_1"
    assert "secret" not in store.safe_url
    with pytest.raises(ConfigError, match="not a plain identifier"):
        open_store("postgresql+psycopg://u@127.0.0.1/db?schema=x;drop")


@pytest.mark.parametrize("url", ["mysql://x/y", "nexus.db", "sqlite:/nexus.db", ""])
def test_unknown_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="unsupported store URL"):
        open_store(url)


def test_the_default_settings_url_opens_an_sqlite_store(nexus_home: Path) -> None:
    store = open_store(Settings().store_url)
    assert isinstance(store, SqliteStore)
    assert store.path == nexus_home / "nexus.db"


def test_every_store_implements_the_protocol(tmp_path: Path) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path / 'x.db'}", "postgresql://u@127.0.0.1/d"):
        assert isinstance(open_store(url), RunStore)


def test_exports_are_complete() -> None:
    assert sorted(nexus.store.__all__) == ["MemoryStore", "RunStore", "open_store"]
    for name in nexus.store.__all__:
        assert getattr(nexus.store, name) is not None
