"""Screenshots of `make run`'s demo: the dashboard for the README, and key pages.

Builds the demo in a scratch data directory (SQLite, ``migrate`` then
``setup_demo``), starts the web server and a worker cluster on a free
loopback port as ``make run`` does, records a health check once the worker
runs, logs in as the demo's ``admin`` and saves PNGs at 1366x900 with
Debian's Chromium (Playwright). Nothing outside the scratch directory and
the output files is touched; the processes it starts are stopped at the end.

    .venv/bin/python scripts/screenshot.py                 # docs/dashboard.png
    .venv/bin/python scripts/screenshot.py --pages-dir var/screenshots --keep

``docs/dashboard.png`` is the first screen of ``/admin/``; ``--pages-dir``
(default ``var/screenshots``) receives the whole of each key page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 900}
DEMO_ADMIN = "admin"
PASSWORD_FILE = "demo-password.txt"
SERVER_WAIT_SECONDS = 60
# (file name, address): the dashboard, then the pages an administrator opens.
PAGES = (
    ("dashboard", "/admin/"),
    ("backups", "/admin/backups/backup/"),
    ("schedules", "/admin/backups/backupschedule/"),
    ("recovery-runs", "/admin/recovery/recoveryrun/"),
    ("restore-drills", "/admin/recovery/restoredrill/"),
    ("health", "/admin/recovery/healthsnapshot/"),
    ("retention-policies", "/admin/retention/retentionpolicy/"),
    ("cleanup-runs", "/admin/retention/cleanuprun/"),
    ("audit-log", "/admin/talowa_admin/auditevent/"),
)


def main() -> int:
    options = parse_arguments()
    data_dir = Path(tempfile.mkdtemp(prefix="talowa-screenshot-"))
    env = demo_environment(data_dir)
    processes: list[subprocess.Popen] = []
    log = data_dir / "screenshot.log"  # the commands' output
    failed = True
    try:
        manage(env, log, "migrate", "--noinput", "--verbosity", "0")
        manage(env, log, "setup_demo", "--verbosity", "0")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        processes.append(
            start(env, log, "runserver", f"127.0.0.1:{port}", "--noreload")
        )
        processes.append(start(env, log, "qcluster"))
        wait_for(f"{base}/admin/login/")
        # The demo's health check ran before any worker: check again now.
        manage(env, log, "check_health", check=False)
        password = (data_dir / PASSWORD_FILE).read_text(encoding="utf-8").strip()
        shoot(base, password, options)
        failed = False
    finally:
        for process in reversed(processes):
            stop(process)
        if failed:
            print(f"failed; the commands' output is in {log}", file=sys.stderr)
        if options.keep or failed:
            print(f"scratch data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dashboard",
        type=Path,
        default=ROOT / "docs" / "dashboard.png",
        help="where the dashboard's first screen goes (default docs/dashboard.png)",
    )
    parser.add_argument(
        "--pages-dir",
        type=Path,
        default=ROOT / "var" / "screenshots",
        help="where the key pages go, whole (default var/screenshots)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch data directory"
    )
    return parser.parse_args()


def demo_environment(data_dir: Path) -> dict[str, str]:
    """The environment of a development instance with its own SQLite database."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "REDIS_URL", "TALOWA_", "AWS_"))
    }
    env.update(
        TALOWA_DATA_DIR=str(data_dir),
        TALOWA_ENV="development",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], log: Path, *args: str, check: bool = True) -> None:
    print(f"manage.py {' '.join(args)}")
    with log.open("ab") as output:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=check,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """Start ``manage.py ARGS`` in its own process group (stopped as one)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + SERVER_WAIT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer at {url}") from None
            time.sleep(0.5)


def shoot(base: str, password: str, options: argparse.Namespace) -> None:
    options.dashboard.parent.mkdir(parents=True, exist_ok=True)
    options.pages_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", DEMO_ADMIN)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        for name, path in PAGES:
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            target = options.pages_dir / f"{name}.png"
            page.screenshot(path=target, full_page=True)
            print(target)
            if name == "dashboard":
                page.screenshot(path=options.dashboard)
                print(options.dashboard)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
