"""Benchmark one heavy user's data export in each format, at two sizes.

    .venv/bin/python bench/export.py                       # PostgreSQL
    .venv/bin/python bench/export.py --sizes 10000,100000 --formats json,html
    .venv/bin/python bench/export.py --sqlite              # SQLite instead

Creates the scratch database ``talowa_bench_export`` (dropping a leftover one
first) on ``--server`` (default: trust auth on 127.0.0.1:5432 as
``postgres``), migrates it, and gives each size a user of its own who sent
that many messages (Telugu, Hindi, English and emoji, across 40
conversations), with a call per 100 messages and a 20 KB photo per 1,000.
Then every (format, size) runs in a fresh subprocess, through the same
service a worker calls (``export_user_data``: job, archive in the exports
storage, audit), so the peak RSS measured is that export's own.

Prints, per run: seconds, rows exported per second, peak RSS, RSS before
the export (Django loaded, connected) and archive size; then PASS or FAIL
for the targets: JSON export of the largest size within 3 s, every peak
RSS within 120 MiB, and the peak growing by less than 15 MiB from the
smallest size to the largest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    DEFAULT_SERVER,
    ROOT,
    data_size,
    machine,
    scratch_environment,
    scratch_work,
)

SCRATCH_DATABASE = "talowa_bench_export"
FORMATS = ("json", "csv", "ndjson", "html")
JSON_TARGET_SECONDS = 3.0
RSS_TARGET_MIB = 120.0
RSS_GROWTH_MIB = 15.0
CONVERSATIONS = 40
BATCH = 5_000
BODIES = (
    "భూమి హక్కుల సమావేశం రేపు ఉదయం పది గంటలకు గ్రామ పంచాయతీ కార్యాలయంలో",
    "ज़मीन के काग़ज़ात कल तक तहसील दफ़्तर में जमा करने हैं 🙏",
    "The survey team reaches the village on Monday; bring the old patta copies.",
    "పట్టా పాస్‌బుక్ కాపీ పంపండి 📄 and the Aadhaar-linked phone number, please",
    "मीटिंग 5 बजे, सब लोग आएँ ✅ — details in the group",
    "ok 👍",
)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.child:
        return child(options.child)
    sizes = [int(n) for n in options.sizes.split(",")]
    formats = options.formats.split(",")
    database = None if options.sqlite else SCRATCH_DATABASE
    with scratch_work(
        "export",
        [database] if database else [],
        keep=options.keep,
        server=options.server,
    ) as work:
        env, engine = scratch_environment(work, database, server=options.server)
        return run(sizes, formats, options.repeat, env, engine)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="messages per user")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per format and size; the median time and the highest RSS "
        "are reported (default 3)",
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help="PostgreSQL server URL (its database part is ignored)",
    )
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(
    sizes: list[int], formats: list[str], repeat: int, env: dict[str, str], engine: str
) -> int:
    def python(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"FAIL: {' '.join(args[:3])} exited {done.returncode}")
        return done.stdout

    machine_line = machine()  # its load average before the work
    python("manage.py", "migrate", "-v", "0")
    for size in sizes:
        started = time.monotonic()
        python(__file__, "--child", "setup", str(size))
        print(
            f"built a user with {size:,} messages in "
            f"{time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    results = []
    for export_format in formats:
        for size in sizes:
            runs = [
                json.loads(
                    python(
                        __file__, "--child", "export", export_format, str(size)
                    ).splitlines()[-1]
                )
                for _ in range(repeat)
            ]
            results.append(summarise(runs))
    print(machine_line)
    print(data_size(env))
    print(report(results, engine))
    return 0 if verdicts(results, sizes)[0] else 1


# --- In the child processes ----------------------------------------------------
def child(args: list[str]) -> int:
    import django

    django.setup()
    if args[0] == "setup":
        build_heavy_user(int(args[1]))
        return 0
    print(json.dumps(measure(args[1], int(args[2]))))
    return 0


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(export_format: str, size: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from backups.services.exporting import export_user_data

    user = get_user_model().objects.get(username=f"bench_heavy_{size}")
    connection.ensure_connection()
    before = rss_mib()
    started = time.perf_counter()
    result = export_user_data(user, format=export_format, actor="bench")
    seconds = time.perf_counter() - started
    rows = sum(result.counts.values())
    return {
        "format": export_format,
        "messages": result.counts["messages"],
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": before,
        "archive_bytes": result.size_bytes,
    }


def build_heavy_user(size: int) -> None:
    """Create ``bench_heavy_<size>``: ``size`` messages and their surroundings."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.db import transaction

    from messaging.models import (
        CallRecord,
        Conversation,
        MediaFile,
        Message,
        Participant,
    )

    users = get_user_model().objects
    rng = random.Random(size)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        heavy = users.create_user(f"bench_heavy_{size}", password=None)
        peers = [
            users.create_user(f"bench_peer_{size}_{n}", password=None)
            for n in range(CONVERSATIONS)
        ]
        chats = []
        for n, peer in enumerate(peers):
            chat = Conversation.objects.create(
                kind="group" if n % 2 else "direct",
                title=f"గ్రామ సభ {n}" if n % 2 else "",
                created_by=heavy,
            )
            for member in (heavy, peer):
                Participant.objects.create(
                    conversation=chat, user=member, joined_at=start
                )
            chats.append(chat)
        stamps = sorted(
            start + timedelta(seconds=rng.randrange(300 * 86400)) for _ in range(size)
        )
        Message.objects.bulk_create(
            (
                Message(
                    conversation=rng.choice(chats),
                    sender=heavy,
                    kind="regular",
                    body=rng.choice(BODIES),
                    created_at=at,
                    updated_at=at,
                )
                for at in stamps
            ),
            batch_size=BATCH,
        )
        CallRecord.objects.bulk_create(
            CallRecord(
                caller=heavy if n % 2 else peers[n % len(peers)],
                callee=peers[n % len(peers)] if n % 2 else heavy,
                status="completed",
                duration_seconds=60 + n % 600,
                started_at=start + timedelta(hours=n),
                created_at=start,
                updated_at=start,
            )
            for n in range(size // 100)
        )
        photos = []
        for n in range(size // 1000):
            data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(20_000)
            digest = hashlib.sha256(data).hexdigest()
            name = storages["media"].save(f"{digest[:2]}/{digest}", ContentFile(data))
            photos.append(
                MediaFile(
                    owner=heavy,
                    name=f"photo-{n}.png",
                    content_type="image/png",
                    size=len(data),
                    sha256=digest,
                    file=name,
                    created_at=start,
                    updated_at=start,
                )
            )
        MediaFile.objects.bulk_create(photos)


def summarise(runs: list[dict]) -> dict:
    """Return one result for repeated runs: the median time, the highest RSS."""
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {
        **median,
        "runs": len(runs),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "rss_before_mib": max(r["rss_before_mib"] for r in runs),
    }


# --- The report -------------------------------------------------------------------
def verdicts(results: list[dict], sizes: list[int]) -> tuple[bool, list[str]]:
    largest, smallest = max(sizes), min(sizes)
    lines, ok = [], True
    for r in results:
        if r["format"] == "json" and r["messages"] == largest:
            passed = r["seconds"] <= JSON_TARGET_SECONDS
            ok &= passed
            lines.append(
                f"{'PASS' if passed else 'FAIL'}: JSON export of "
                f"{largest:,} messages in {r['seconds']:.2f} s "
                f"(target {JSON_TARGET_SECONDS:.0f} s)"
            )
    peak = max(r["peak_rss_mib"] for r in results)
    passed = peak <= RSS_TARGET_MIB
    ok &= passed
    lines.append(
        f"{'PASS' if passed else 'FAIL'}: highest peak RSS {peak:.0f} MiB "
        f"(target {RSS_TARGET_MIB:.0f} MiB)"
    )
    for export_format in {r["format"] for r in results}:
        by_size = {
            r["messages"]: r["peak_rss_mib"]
            for r in results
            if r["format"] == export_format
        }
        if smallest in by_size and largest in by_size and largest != smallest:
            growth = by_size[largest] - by_size[smallest]
            passed = growth < RSS_GROWTH_MIB
            ok &= passed
            lines.append(
                f"{'PASS' if passed else 'FAIL'}: {export_format} peak RSS "
                f"grows {growth:+.1f} MiB from {smallest:,} to {largest:,} "
                f"messages (flat: under {RSS_GROWTH_MIB:.0f} MiB)"
            )
    return ok, sorted(lines, key=lambda line: line[6:])


def report(results: list[dict], engine: str) -> str:
    header = (
        "format",
        "messages",
        "rows",
        "seconds",
        "rows/s",
        "peak RSS",
        "RSS before",
        "archive",
    )
    table = [header] + [
        (
            r["format"],
            f"{r['messages']:,}",
            f"{r['rows']:,}",
            f"{r['seconds']:.2f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['peak_rss_mib']:.0f} MiB",
            f"{r['rss_before_mib']:.0f} MiB",
            f"{r['archive_bytes'] / 2**20:.1f} MiB",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    runs = results[0]["runs"] if results else 0
    lines = [
        f"export_user_data on {engine}, one subprocess per run; median of {runs} "
        "runs, highest peak RSS"
    ]
    for row in table:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    sizes = sorted({r["messages"] for r in results})
    lines += verdicts(results, sizes)[1]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
