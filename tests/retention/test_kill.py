"""A cleanup worker killed mid-run (SIGKILL) loses nothing and a rerun finishes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from django.db import connection

from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

EXPIRED, YOUNG, BATCH = 240, 30, 20

SEED = f"""
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from messaging.models import Conversation, Message
user = User.objects.create_user("asha")
conv = Conversation.objects.create(kind="group")
now = timezone.now()
for i in range({EXPIRED + YOUNG}):
    m = Message.objects.create(
        conversation=conv, sender=user, kind="group", body=str(i)
    )
    age = timedelta(days=400 if i < {EXPIRED} else 5, minutes=i)
    Message.objects.filter(pk=m.pk).update(created_at=now - age)
"""

SLOW_CLEANUP = f"""
import sys, time
from retention.services import cleanup, scanning
scanning.BATCH_SIZE = scanning.MIN_BATCH_SIZE = scanning.MAX_BATCH_SIZE = {BATCH}
move = cleanup.BatchMover.move
def reporting_move(self, rtype, ids):
    moved = move(self, rtype, ids)
    print("batch", moved, flush=True)
    time.sleep(0.3)
    return moved
cleanup.BatchMover.move = reporting_move
cleanup.cleanup_expired_messages()
"""

STATE = """
import json
from messaging.models import Message, Tombstone
from retention.models import ArchivedMessage, CleanupRun
live = sorted(Message.objects.values_list("body", flat=True), key=int)
archived = sorted(ArchivedMessage.objects.values_list("body", flat=True), key=int)
stones = Tombstone.objects.filter(model="messaging.message").count()
runs = list(CleanupRun.objects.order_by("id").values_list("status", flat=True))
print(json.dumps({"live": live, "archived": archived, "tombstones": stones,
                  "runs": runs}))
"""


def test_a_killed_cleanup_keeps_finished_batches_and_a_rerun_completes(scratch):  # noqa: F811
    url = scratch.url(connection.vendor, migrated=True)
    scratch.manage(url, "shell", "-c", SEED)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", SLOW_CLEANUP],
        cwd=ROOT,
        env=scratch.env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    finished = 0
    try:
        while finished < 3:
            line = worker.stdout.readline()
            assert line, worker.stderr.read()
            finished += line.startswith("batch")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    state = _state(scratch, url)
    archived = len(state["archived"])
    # Finished batches are archived, the rest untouched; at most the batch in
    # flight when the signal came may have committed too.
    assert archived in (3 * BATCH, 4 * BATCH)
    assert len(state["live"]) == EXPIRED + YOUNG - archived
    assert not set(state["live"]) & set(state["archived"])
    assert state["tombstones"] == archived

    rerun = json.loads(scratch.manage(url, "apply_retention", "--json").stdout)
    assert rerun["deleted"]["group_messages"] == EXPIRED - archived
    state = _state(scratch, url)
    assert state["archived"] == [str(i) for i in range(EXPIRED)]
    assert state["live"] == [str(i) for i in range(EXPIRED, EXPIRED + YOUNG)]
    assert state["tombstones"] == EXPIRED
    assert state["runs"] == ["failed", "completed"]  # the killed one, closed


def _state(scratch, url):  # noqa: F811
    out = scratch.manage(url, "shell", "-c", STATE).stdout
    return json.loads(out.strip().splitlines()[-1])
