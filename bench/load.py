"""Load-test the production web server on the demo data, on loopback only.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--workers 2]

Builds the demo (``setup_demo``: 3,000 messages, the role logins and ``asha``)
in a scratch PostgreSQL database (``--sqlite`` for SQLite) and data directory,
takes a system and a user backup so the admin's list has rows, and exports
asha's data once. Then it starts gunicorn with ``deploy/gunicorn.conf.py`` and
``TALOWA_ENV=production`` on 127.0.0.1 (a free port; nothing else is ever
contacted), logs in as ``asha`` and as the ``viewer`` role through the login
form, and runs ``--clients`` concurrent clients for ``--seconds`` seconds,
each requesting in turn:

- ``/me/`` and ``/me/data/`` as asha,
- the admin's backup list (``/admin/backups/backup/``) as viewer,
- asha's export download (the signed link; every download is audited).

The run is bounded twice: by time, and by ``--max-requests`` in all. Each
request is a new connection (gunicorn's sync workers close it after each
response). An error is a status other than 200, a failed connection or a
request slower than ``--timeout``. Prints requests per second, p50/p95/p99
latency (overall and per URL), errors, and the server's peak RSS (master and
workers together, sampled every 100 ms), then PASS or FAIL for the targets:
no errors and p99 within 500 ms. It also says where the CPU went, per
request: gunicorn's processes, the PostgreSQL server processes serving the
benchmark's database, and this client; on a machine that other work shares,
those figures move less than the latencies do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    ROOT,
    data_size,
    environment,
    machine,
    manage,
    recreate_database,
    scratch_work,
    table,
)

DATABASE = "talowa_bench_load"
LOOPBACK = "127.0.0.1"  # the only address this benchmark talks to
GUNICORN = Path(sys.executable).with_name("gunicorn")
P99_TARGET_MS = 500.0
SETUP = """
import json
from django.contrib.auth import get_user_model
from backups.models import ExportJob
from backups.services import create_full_backup
from backups.services.exporting import download_token, export_user_data
asha = get_user_model().objects.get(username="asha")
create_full_backup(note="load test")
create_full_backup(user=asha, note="load test")
result = export_user_data(asha, format="json")
job = ExportJob.objects.get(pk=result.export_id)
print(json.dumps({"token": download_token(job), "bytes": result.size_bytes}))
"""


def main() -> int:
    options = parse_args()
    databases = () if options.sqlite else (DATABASE,)
    with scratch_work("load", databases, keep=options.keep) as work:
        return run(options, work)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument("--timeout", type=float, default=30.0, help="per request")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    if not (1 <= options.clients <= 500 and 1 <= options.seconds <= 600):
        parser.error("--clients must be 1-500 and --seconds 1-600")
    return options


def run(options: argparse.Namespace, work: Path) -> int:
    machine_line = machine()  # its load average before the work
    data_dir = work / "data"
    url = (
        f"sqlite:///{work / 'load.sqlite3'}"
        if options.sqlite
        else recreate_database(DATABASE)
    )
    password = secrets.token_urlsafe(16)
    # One SECRET_KEY throughout: it signs the download link and the audit trail.
    env = environment(data_dir, url) | {
        "TALOWA_DEMO_PASSWORD": password,
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    print("Building the demo data ...", flush=True)
    manage(env, "migrate", "-v0")
    manage(env, "setup_demo", "--json")
    made = json.loads(manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    size = data_size(env)
    server = Server(production_env(env, data_dir), work, options.workers)
    try:
        server.start()
        sessions = {
            "asha": server.log_in("asha", password),
            "viewer": server.log_in("viewer", password),
        }
        targets = [
            ("/me/", sessions["asha"]),
            ("/me/data/", sessions["asha"]),
            ("/admin/backups/backup/", sessions["viewer"]),
            (f"/me/data/download/{made['token']}/", sessions["asha"]),
        ]
        for path, cookie in targets:  # every URL works before the clock starts
            status, _ = request_once(server.port, path, cookie)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status} before the run")
        print(
            f"Running {options.clients} clients for {options.seconds:.0f} s "
            f"against gunicorn ({options.workers} workers) ...",
            flush=True,
        )
        database = None if options.sqlite else DATABASE
        backends: list[int] = []
        turns = iter(range(1 << 30))

        def sample() -> None:
            server.sample_rss()
            if database:
                if next(turns) % 10 == 0:  # a look through /proc once a second
                    backends[:] = _database_backends(database)
                server.cpu.sample("database", backends)

        sample()
        server.cpu.start()
        result = asyncio.run(load(options, server.port, targets, sample))
        sample()
    finally:
        server.stop()
    return report(options, result, server, machine_line, size, made["bytes"])


def production_env(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """The web server's environment: production settings, loopback, plain HTTP."""
    backup_keys = (data_dir / "backup-dev.key").read_text().strip()
    return env | {
        "TALOWA_ENV": "production",
        "TALOWA_BACKUP_KEYS": backup_keys,
        "ALLOWED_HOSTS": LOOPBACK,
        "SECURE_SSL_REDIRECT": "false",
    }


class Server:
    """gunicorn on a free loopback port, and its processes' memory."""

    def __init__(self, env: dict[str, str], work: Path, workers: int) -> None:
        self.env, self.work, self.workers = env, work, workers
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.peak_total_kib = 0
        self.peak_worker_kib = 0
        self.cpu = CpuMeter()

    def start(self) -> None:
        manage(self.env, "collectstatic", "--noinput", "-v0")
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            self.port = probe.getsockname()[1]
        log = (self.work / "gunicorn.log").open("w")
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--config",
                "deploy/gunicorn.conf.py",
                "--bind",
                f"{LOOPBACK}:{self.port}",
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while request_once(self.port, "/readyz", None, quiet=True)[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "gunicorn did not start:\n"
                    + (self.work / "gunicorn.log").read_text()[-3000:]
                )
            time.sleep(0.2)

    def log_in(self, username: str, password: str) -> str:
        """Log in through the form; return the Cookie header of the session."""
        status, page, cookies = _exchange(self.port, "GET", "/accounts/login/")
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not csrf:
            raise RuntimeError(f"the login page answered {status}")
        form = (
            f"csrfmiddlewaretoken={csrf.group(1).decode()}&username={username}"
            f"&password={password}"
        )
        status, _, cookies = _exchange(
            self.port, "POST", "/accounts/login/", cookies=cookies, body=form
        )
        if status != 302 or "sessionid" not in cookies:
            raise RuntimeError(f"logging in as {username} answered {status}")
        return f"sessionid={cookies['sessionid']}"

    def sample_rss(self) -> None:
        """Record the RSS of gunicorn's master and workers, now."""
        if self.process is None:
            return
        pids = [self.process.pid, *_children(self.process.pid)]
        self.cpu.sample("web", pids)
        sizes = [_rss_kib(pid) for pid in pids]
        self.peak_total_kib = max(self.peak_total_kib, sum(sizes))
        self.peak_worker_kib = max(self.peak_worker_kib, *sizes[1:], 0)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class CpuMeter:
    """CPU seconds used by groups of processes between ``start`` and now.

    Processes are sampled now and then; one that ends between two samples
    (a recycled gunicorn worker) counts up to its last sample.
    """

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group: dict[int, str] = {}

    def sample(self, group: str, pids: list[int]) -> None:
        for pid in pids:
            used = _cpu_seconds(pid)
            if used is None:
                continue
            self.first.setdefault(pid, used)
            self.last[pid] = used
            self.group[pid] = group

    def start(self) -> None:
        """Count from now: what each known process used so far is left out."""
        self.first = dict(self.last)

    def seconds(self, group: str) -> float:
        return sum(
            self.last[pid] - self.first.get(pid, 0.0)
            for pid, name in self.group.items()
            if name == group
        )


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_backends(database: str) -> list[int]:
    """The PostgreSQL server processes connected to ``database``, by their title."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres:") and f" {database} ".encode() in title:
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _exchange(
    port: int,
    method: str,
    path: str,
    *,
    cookies: dict[str, str] | None = None,
    body: str = "",
) -> tuple[int, bytes, dict[str, str]]:
    """One request with http.client; return status, body and the cookies set."""
    import http.client

    cookies = dict(cookies or {})
    headers = {"Host": LOOPBACK}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        content = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, content, cookies
    finally:
        connection.close()


def request_once(
    port: int, path: str, cookie: str | None, *, quiet: bool = False
) -> tuple[int, bytes]:
    try:
        cookies = dict([cookie.split("=", 1)]) if cookie else None
        status, content, _ = _exchange(port, "GET", path, cookies=cookies)
    except OSError:
        if not quiet:
            raise
        return 0, b""
    return status, content


@dataclass
class Result:
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # seconds of this process (clients and sampler)


async def load(options, port, targets, sample_rss) -> Result:
    """Run the clients until the time or the request budget runs out."""
    result = Result(latencies={p: [] for p, _ in targets})
    result.errors = {p: 0 for p, _ in targets}
    budget = [options.max_requests]
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=_sample, args=(sample_rss, stop_sampling))
    sampler.start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + options.seconds
    try:
        await asyncio.gather(
            *(
                _client(n, port, targets, deadline, budget, options.timeout, result)
                for n in range(options.clients)
            )
        )
    finally:
        result.seconds = time.perf_counter() - started
        result.client_cpu = time.process_time() - cpu_started
        stop_sampling.set()
        sampler.join()
    return result


def _sample(sample_rss, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        sample_rss()


async def _client(number, port, targets, deadline, budget, timeout, result) -> None:
    turn = number  # clients start at different URLs
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        path, cookie = targets[turn % len(targets)]
        turn += 1
        started = time.perf_counter()
        try:
            status = await asyncio.wait_for(_get(port, path, cookie), timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            status = 0
            if len(result.samples) < 5:
                result.samples.append(f"{path}: {type(exc).__name__} {exc}")
        elapsed = time.perf_counter() - started
        result.latencies[path].append(elapsed)
        if status != 200:
            result.errors[path] += 1
            if status and len(result.samples) < 5:
                result.samples.append(f"{path}: HTTP {status}")


async def _get(port: int, path: str, cookie: str | None) -> int:
    """GET ``path`` on a new connection, read the whole answer; return its status."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n"
        if cookie:
            request += f"Cookie: {cookie}\r\n"
        writer.write((request + "\r\n").encode())
        await writer.drain()
        answer = await reader.read()  # the server closes after the response
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError("no HTTP status line in the answer")
    return int(status_line[1])


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(
    options, result: Result, server: Server, machine_line: str, size: str, export_bytes
) -> int:
    every = [v for values in result.latencies.values() for v in values]
    errors = sum(result.errors.values())

    def row(name, values, failed):
        return (
            name,
            f"{len(values):,}",
            f"{len(values) / result.seconds:,.1f}",
            f"{statistics.median(values) * 1000:.0f}" if values else "",
            f"{_percentile(values, 0.95) * 1000:.0f}",
            f"{_percentile(values, 0.99) * 1000:.0f}",
            f"{max(values, default=0) * 1000:.0f}",
            str(failed),
        )

    rows = [
        ("URL", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    ]
    for path, values in result.latencies.items():
        shown = "/me/data/download/<token>/" if "download" in path else path
        rows.append(row(shown, values, result.errors[path]))
    rows.append(row("all", every, errors))
    print()
    print(machine_line)
    print(f"{size}; the export downloaded: {export_bytes / 1e3:,.1f} kB")
    print(
        table(
            rows,
            f"Load: {options.clients} clients for {result.seconds:.1f} s, gunicorn "
            f"with {options.workers} sync workers, "
            f"{'SQLite' if options.sqlite else 'PostgreSQL'}, loopback",
        )
    )
    print(
        f"Server peak RSS: {server.peak_total_kib / 1024:,.0f} MiB in all "
        f"(master and {options.workers} workers), "
        f"{server.peak_worker_kib / 1024:,.0f} MiB the largest worker"
    )
    requests = max(len(every), 1)
    cpu = [
        ("web (gunicorn)", server.cpu.seconds("web")),
        ("database (PostgreSQL)", server.cpu.seconds("database")),
        ("client (this process)", result.client_cpu),
    ]
    print(
        "CPU per request: "
        + ", ".join(f"{name} {used / requests * 1000:.1f} ms" for name, used in cpu)
        + f"; load average at the end {os.getloadavg()[0]:.2f}"
    )
    for sample in result.samples:
        print(f"  e.g. {sample}")
    p99 = _percentile(every, 0.99) * 1000
    checks = [
        ("errors", float(errors), "= 0", errors == 0),
        ("p99 latency (ms)", p99, f"<= {P99_TARGET_MS:.0f}", p99 <= P99_TARGET_MS),
        ("requests per second", len(every) / result.seconds, "(info)", None),
        ("server peak RSS (MiB)", server.peak_total_kib / 1024, "(info)", None),
    ]
    rows = [("target", "measured", "goal", "")]
    rows += [
        (n, f"{v:,.1f}", g, "" if ok is None else "PASS" if ok else "FAIL")
        for n, v, g, ok in checks
    ]
    print()
    print(table(rows, "Targets"))
    return 0 if all(ok is not False for *_r, ok in checks) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
