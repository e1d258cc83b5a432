"""Read the process environment once, into typed values and a list of problems.

Settings call these helpers; nothing else in the project reads ``os.environ``.
A malformed value never crashes the import: it falls back to a safe default and
is recorded in ``problems`` so that ``talowa_admin.checks`` reports it as a
Django system check error with an id and the fix. An ``Environment`` reads
variables by name and keeps no copy of them: settings hold typed values only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Problem:
    """A configuration mistake, reported by a system check."""

    id: str
    msg: str
    hint: str


@dataclass
class Environment:
    """Typed access to environment variables, collecting problems as it goes."""

    values: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    problems: list[Problem] = field(default_factory=list)

    def str(self, name: str, default: str = "") -> str:
        return self.values.get(name, "").strip() or default

    def choice(
        self, name: str, choices: tuple[str, ...], default: str, *, check_id: str
    ) -> str:
        value = self.str(name, default).lower()
        if value not in choices:
            self.problems.append(
                Problem(
                    check_id,
                    f"{name}={value!r} is not one of {', '.join(choices)}.",
                    f"Set {name} to one of {', '.join(choices)}, or unset it "
                    f"for the default ({default}).",
                )
            )
            return default
        return value

    def int(
        self, name: str, default: int, *, minimum: int, maximum: int, check_id: str
    ) -> int:
        raw = self.str(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            self.problems.append(
                Problem(
                    check_id,
                    f"{name}={raw!r} is not a whole number "
                    f"from {minimum} to {maximum}.",
                    f"Set {name} to a number in that range, or unset it for the "
                    f"default ({default}).",
                )
            )
            return default
        return value

    def list(self, name: str, default: list[str]) -> list[str]:
        raw = self.str(name)
        if not raw:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def bool(self, name: str, default: bool, *, check_id: str) -> bool:
        raw = self.str(name).lower()
        if not raw:
            return default
        if raw in {"1", "true", "yes", "on"}:
            return True
        if raw in {"0", "false", "no", "off"}:
            return False
        self.problems.append(
            Problem(
                check_id,
                f"{name}={raw!r} is not a boolean.",
                f"Set {name} to true or false.",
            )
        )
        return default


def parse_database_url(url: str, *, base_dir: Path) -> dict:
    """Turn a ``DATABASE_URL`` into a Django ``DATABASES`` entry.

    Supported: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
    and ``postgres://user:password@host:port/name?option=value`` (also
    ``postgresql://``). Relative SQLite paths are relative to ``base_dir``.
    Raises ``ValueError`` with a message free of passwords.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise ValueError("a sqlite DATABASE_URL needs a file path")
        name = Path(path)
        return sqlite_database(name if name.is_absolute() else base_dir / name)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ValueError("a postgres DATABASE_URL needs a database name")
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ValueError(
        f"the scheme {scheme + '://' if scheme else '(none)'} is not supported"
    )


def pooled(database: dict, *, max_size: int) -> dict:
    """Return ``database`` (PostgreSQL) taking its connections from a pool.

    Django 5.2's psycopg pool (``OPTIONS["pool"]``, the psycopg-pool package):
    a request borrows a connection and gives it back when it ends, so no
    request pays for connecting. The pool replaces persistent connections
    (Django refuses ``CONN_MAX_AGE`` with it); with ``CONN_HEALTH_CHECKS`` it
    checks a connection before lending it, so one the database dropped is
    replaced instead of failing a request.
    """
    return database | {
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": database["OPTIONS"]
        | {
            "pool": {
                # A sync worker serves one request at a time; threads of a
                # command (a health check's probes) may borrow a few more.
                "min_size": 1,
                "max_size": max_size,
                # Wait this long for a free connection, then fail the request.
                "timeout": 10,
            }
        },
    }


def sqlite_database(path: Path) -> dict:
    """Return a SQLite ``DATABASES`` entry tuned for a web server and workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # Workers and the web server write concurrently: wait for the lock
            # instead of failing, take it at BEGIN, and let readers go on (WAL).
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
