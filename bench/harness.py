"""Shared pieces of the benchmarks: scratch databases, measured subprocesses.

Every measured step runs in a subprocess of a small launcher, which reports
the step's wall time and the peak RSS of its largest process (for a shell
pipeline: of its largest member), so steps are measured the same way whether
they are ours or PostgreSQL's tools.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# The tables of the benchmarks' data set, as pg_dump -t names them.
TABLES = [
    "auth_user",
    "messaging_conversation",
    "messaging_participant",
    "messaging_message",
    "messaging_callrecord",
    "messaging_mediafile",
]

LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(json.loads(sys.argv[1]), capture_output=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.buffer.write(done.stdout)
sys.stderr.buffer.write(done.stderr)
sys.stderr.write("\\n@@MEASURE " + json.dumps({"seconds": seconds, "peak_kib": peak,
                                            "code": done.returncode}))
"""


@dataclass
class Measure:
    seconds: float
    peak_mib: float
    stdout: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def measure(command: list[str], env: dict[str, str], *, shell: bool = False) -> Measure:
    """Run ``command`` (or a shell pipeline) and measure it; raise on failure."""
    argv = ["bash", "-o", "pipefail", "-c", command[0]] if shell else command
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, json.dumps(argv)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    stderr, _, tail = done.stderr.rpartition("@@MEASURE ")
    result = json.loads(tail)
    if result["code"] != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} failed:\n{stderr[-3000:]}")
    return Measure(result["seconds"], result["peak_kib"] / 1024, done.stdout)


def best_of(
    runs: int,
    command: list[str],
    env: dict[str, str],
    *,
    shell: bool = False,
    before=None,
) -> tuple[Measure, list[float]]:
    """Run ``runs`` times; return the median run and every time."""
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(measure(command, env, shell=shell))
    results.sort(key=lambda m: m.seconds)
    return results[len(results) // 2], [m.seconds for m in results]


def alternately(
    runs: int,
    commands: dict[str, tuple[list[str], Callable[[], object] | None]],
    env: dict[str, str],
) -> dict[str, tuple[Measure, list[float]]]:
    """Run each of ``commands`` once a round, in turn, for ``runs`` rounds.

    ``commands`` maps a name to its argv and what to do before each of its
    runs (or None). Returns, by name, what ``best_of`` returns: the median
    run and every time. Side by side, a machine whose speed drifts while the
    benchmark runs slows each round's commands alike, not the runs of one.
    """
    results: dict[str, list[Measure]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, before) in commands.items():
            if before:
                before()
            results[name].append(measure(command, env))
    medians = {}
    for name, measures in results.items():
        measures.sort(key=lambda m: m.seconds)
        medians[name] = (measures[len(measures) // 2], [m.seconds for m in measures])
    return medians


def median(values: list[float]) -> float:
    return statistics.median(values)


DEFAULT_SERVER = f"postgres://{SERVER['user']}@{SERVER['host']}:{SERVER['port']}/"


def scratch_url(database: str, server: str = DEFAULT_SERVER) -> str:
    """Return the URL of ``database`` on the server that ``server`` names."""
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))


def recreate_database(name: str, *, server: str = DEFAULT_SERVER) -> str:
    """Drop database ``name`` if it exists, create it empty; return its URL."""
    drop_database(name, server=server)
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return scratch_url(name, server)


def drop_database(name: str, *, server: str = DEFAULT_SERVER) -> None:
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(server: str):
    import psycopg

    return psycopg.connect(scratch_url("postgres", server), autocommit=True)


@contextlib.contextmanager
def scratch_work(
    name: str,
    databases: Iterable[str],
    *,
    keep: bool,
    server: str = DEFAULT_SERVER,
) -> Iterator[Path]:
    """Yield a scratch directory; remove it, and drop ``databases`` unless kept."""
    work = Path(tempfile.mkdtemp(prefix=f"talowa-bench-{name}-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not keep:
            for database in databases:
                drop_database(database, server=server)


def scratch_environment(
    work: Path, database: str | None, *, server: str = DEFAULT_SERVER
) -> tuple[dict[str, str], str]:
    """Return the environment on an empty scratch database, and its engine's name.

    PostgreSQL's ``database`` on ``server`` (created anew), or SQLite in
    ``work`` when ``database`` is None.
    """
    if database is None:
        return environment(work, f"sqlite:///{work / 'bench.sqlite3'}"), "SQLite"
    return environment(work, recreate_database(database, server=server)), "PostgreSQL"


def compile_sources() -> None:
    """Compile the project's sources to bytecode, as an installed deployment has."""
    import compileall

    for package in ("talowa_admin", "backups", "recovery", "retention", "messaging"):
        compileall.compile_dir(ROOT / package, quiet=1)


def environment(data_dir: Path, url: str) -> dict[str, str]:
    """The environment of a benchmark's subprocesses (manage.py or scripts).

    Without ``PYTHONDONTWRITEBYTECODE``: a deployment keeps its bytecode.
    """
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return dict(
        inherited,
        DATABASE_URL=url,
        TALOWA_DATA_DIR=str(data_dir),
        TALOWA_LOG_LEVEL="warning",
        DJANGO_SETTINGS_MODULE="talowa_admin.settings",
        PGHOST=SERVER["host"],
        PGPORT=str(SERVER["port"]),
        PGUSER=SERVER["user"],
    )


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*MANAGE, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def touch_one_percent(turn: int) -> str:
    """Return a ``manage.py shell -c`` script editing 1% of the messages."""
    return (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute(\"UPDATE messaging_message SET body = body || ' (edited)', "
        f'is_edited = true, updated_at = now() WHERE id % 100 = {turn}")'
    )


def seed(env: dict[str, str], messages: int, *, replace: bool = False) -> None:
    """Seed the benchmark's data set, scaled from 1,000,000 messages."""
    scale = messages / 1_000_000
    manage(
        env,
        "seed_messaging",
        "--users",
        str(max(20, int(2000 * scale))),
        "--conversations",
        str(max(40, int(20000 * scale))),
        "--messages",
        str(messages),
        "--calls",
        str(int(100000 * scale)),
        "--media",
        str(int(50000 * scale)),
        "--seed",
        "7",
        "--noinput",
        *(["--replace"] if replace else []),
    )


def migrate_and_seed(env: dict[str, str], messages: int) -> None:
    """Migrate the scratch database, seed the data set and say how long it took."""
    manage(env, "migrate", "-v0")
    began = time.perf_counter()
    seed(env, messages)
    print(
        f"seeded {messages:,} messages in {time.perf_counter() - began:.0f} s",
        flush=True,
    )


def machine() -> str:
    """One line naming this machine: cores, CPU model, memory, PostgreSQL."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    postgres = ""
    with contextlib.suppress(Exception), _admin(DEFAULT_SERVER) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
        postgres = f", PostgreSQL {version.split()[0]}"
    load = ""
    with contextlib.suppress(OSError):
        load = f", load {os.getloadavg()[0]:.1f} at the start"
    return (
        f"Machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
        f"{model}{memory}{postgres}, Python {sys.version.split()[0]}{load}"
    )


def data_size(env: dict[str, str]) -> str:
    """One line with the row counts of the data set and its size on disk."""
    script = (
        "from django.db import connection\n"
        "from messaging.models import CallRecord, Conversation, MediaFile, Message\n"
        "from django.contrib.auth import get_user_model\n"
        "counts = [(m._meta.verbose_name_plural, m.objects.count()) for m in "
        "(get_user_model(), Conversation, Message, CallRecord, MediaFile)]\n"
        "size = ''\n"
        "if connection.vendor == 'postgresql':\n"
        "    with connection.cursor() as c:\n"
        "        c.execute('SELECT pg_database_size(current_database())')\n"
        "        size = f'; database {c.fetchone()[0] / 1e6:,.1f} MB'\n"
        "print('Data: ' + ', '.join(f'{n:,} {name}' for name, n in counts) + size)"
    )
    return manage(env, "shell", "-c", script).strip().splitlines()[-1]


def table(rows: list[tuple], title: str) -> str:
    """Render rows (the first is the header) as an aligned text table."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [title]
    for number, row in enumerate(rows):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def mib(n: float) -> str:
    return f"{n:,.0f}"


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f}"
