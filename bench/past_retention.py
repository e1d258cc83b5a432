"""Benchmark the retention step after a restore: count, then archive, past retention.

    .venv/bin/python bench/past_retention.py [--messages 100000] [--database NAME]

Seeds a scratch PostgreSQL database (timestamps spread over 400 days, so every
type has rows past its period), adds a mixed set of policies (user and
conversation preferences, a policy with automatic cleanup off) and legal holds
(a user, a conversation), then measures in one subprocess
``count_past_retention`` (what the restore's preview and the retention step
count) and ``retention_after_restore`` (the count again, then the archiving),
each with its seconds, and the subprocess's peak RSS, under the machine and
the data size. The database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    data_size,
    environment,
    machine,
    manage,
    measure,
    migrate_and_seed,
    recreate_database,
    scratch_work,
)

POLICIES = """
from django.contrib.auth import get_user_model
from messaging.models import Conversation
from retention.models import LegalHold
from retention.services import set_retention_policy
users = list(get_user_model().objects.order_by("id").values_list("id", flat=True))
convs = list(Conversation.objects.order_by("id").values_list("id", flat=True))
for uid in users[1:6]:
    set_retention_policy(entity_id=uid, entity_type="user",
        retention_periods={"regular_messages": 200, "group_messages": 90,
                           "media_files": 60, "call_history": 100})
set_retention_policy(entity_id=users[6], entity_type="user",
    retention_periods={}, auto_cleanup=False)
for cid in convs[1:6]:
    set_retention_policy(entity_id=cid, entity_type="conversation",
        retention_periods={"group_messages": 30, "regular_messages": 45})
LegalHold.objects.create(user_id=users[7], reason="bench")
LegalHold.objects.create(conversation_id=convs[7], reason="bench")
"""

RUN = """
import json, resource, time
from retention.services import count_past_retention, retention_after_restore
began = time.perf_counter()
counted = count_past_retention()
count_s = time.perf_counter() - began
began = time.perf_counter()
result = retention_after_restore(backup_id="backup_bench", user_id=None,
                                 data_types=None)
step_s = time.perf_counter() - began
print(json.dumps({"count_seconds": count_s, "step_seconds": step_s,
                  "counted": counted, "archived": result["archived"],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", default="talowa_bench_past_retention")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_work("past-retention", [args.database], keep=args.keep) as work:
        url = recreate_database(args.database)
        env = environment(work / "data", url)
        machine_line = machine()  # its load average before the work
        migrate_and_seed(env, args.messages)
        manage(env, "shell", "-c", POLICIES)
        size = data_size(env)  # before the measured step archives rows
        run = measure([*MANAGE, "shell", "-c", RUN], env)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(machine_line)
    print(size)
    print(f"count_past_retention:    {result['count_seconds']:.2f} s")
    print(f"retention_after_restore: {result['step_seconds']:.2f} s")
    print(f"peak RSS of the process: {run.peak_mib:.0f} MiB")
    print(f"past retention: {json.dumps(result['counted'])}")
    print(f"archived:       {json.dumps(result['archived'])}")


if __name__ == "__main__":
    main()
