"""Restores killed outright (SIGKILL) the moment their data change commits.

Each test runs the real ``restore_backup`` command in a child process that
kills itself right after the transaction that swaps in (PostgreSQL system
restores) or writes (in place: SQLite, one user) the restored rows commits,
then checks what the next commands see: the chain the restore replaced is
closed, the run is failed as "worker died" and can be rolled back. A run
killed as its retention step begins shows its restore step completed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.backups.test_backup_faults import (
    ROOT,
    child_env,
    give_the_child_a_database,
    run_manage,
)

pytestmark = pytest.mark.django_db(transaction=True)

USER = "seed_user_00001"

# Runs in a child process. The kill is the test's fault, not the product's:
# it wraps the two places where a restore changes the live data inside its
# transaction, and kills the process as soon as that transaction commits.
KILL_AFTER_COMMIT = """
import os, signal, sys, django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
from recovery.services.applying import Applier
from recovery.staging import StagedTables

def kill_after_commit(apply):
    def wrapper(*args, **kwargs):
        result = apply(*args, **kwargs)
        if connection.in_atomic_block:  # not the staged load, which is outside
            transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        return result
    return wrapper

StagedTables.swap = kill_after_commit(StagedTables.swap)
Applier.run = kill_after_commit(Applier.run)
call_command("restore_backup", *sys.argv[1:])
"""

# Runs in a child process: the restore goes through, and the process is killed
# as the run's next step, which archives restored rows past their retention,
# begins.
KILL_IN_RETENTION = """
import os, signal, sys, django
django.setup()
from django.core.management import call_command
from recovery.services import plans

def kill(**kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

plans.retention_after_restore = kill
call_command("restore_backup", *sys.argv[1:])
"""

# Runs in a child process: the catalog and the runs as stored, read without
# any of the product's checks (which would change what they read).
STORED = """
import json, django
django.setup()
from backups.models import Backup
from recovery.models import RecoveryRun
print(json.dumps({
    "backups": list(Backup.objects.values("id", "kind", "status", "metadata")),
    "runs": list(RecoveryRun.objects.values()),
}, default=str))
"""

STATE = """
import json, django
django.setup()
from tests.recovery.conftest import table_state
print(json.dumps(table_state()))
"""

CHANGE = f"""
from messaging.models import Message
Message.objects.filter(sender__username="{USER}").update(body="changed")
Message.objects.filter(sender__username="{USER}").first().delete()
"""

SCOPES = {
    "system": ([], []),  # staged and swapped on PostgreSQL, in place on SQLite
    "user": (["--user", USER], ["--user", USER]),  # in place on both
    "types": ([], ["--types", "messages"]),  # staged on PostgreSQL
}


def run_python(env: dict[str, str], script: str, *args: str):
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def manage_ok(env: dict[str, str], *args: str) -> str:
    result = run_manage(env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def killed_restore(data_dir, scope: str, script: str = KILL_AFTER_COMMIT) -> dict:
    """Back up, change the data, restore with a kill right after the commit."""
    backup_args, restore_args = SCOPES[scope]
    env = child_env(data_dir)
    give_the_child_a_database(env)
    manage_ok(
        env,
        *("seed_messaging", "--users", "4", "--conversations", "6"),
        *("--messages", "300", "--calls", "20", "--media", "3", "--noinput"),
    )
    backup = json.loads(manage_ok(env, "create_backup", *backup_args, "--json"))
    backed_up = run_python(env, STATE)
    manage_ok(env, "shell", "-c", CHANGE)
    changed = run_python(env, STATE)
    assert changed != backed_up
    child = subprocess.run(
        [sys.executable, "-c", script, backup["id"], *restore_args]
        + ["--noinput", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    return {
        "env": env,
        "backup": backup,
        "backed_up": backed_up,
        "changed": changed,
        "incremental_args": ["create_backup", "--incremental", *backup_args],
    }


def assert_the_chain_ended(killed: dict) -> None:
    env = killed["env"]
    assert run_python(env, STATE) == killed["backed_up"]  # the restore is in
    stored = run_python(env, STORED)
    completed = [b for b in stored["backups"] if b["status"] == "completed"]
    assert len(completed) == 2  # the backup and the pre-restore backup
    assert all(b["metadata"].get("chain_closed") for b in completed)
    # The next incremental is refused (schedules take a full one instead).
    refused = run_manage(env, *killed["incremental_args"], "--json")
    assert refused.returncode != 0
    assert "since the last restore; create a full backup first" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = json.loads(manage_ok(env, "list_backups", "--json"))["backups"]
    assert sorted(b["status"] for b in listed) == ["completed", "completed"]


def test_a_restore_of_some_types_killed_right_after_its_commit_ends_the_chain(
    data_dir,
):
    assert_the_chain_ended(killed_restore(data_dir, "types"))


# One killed restore for both checks: the refused incremental writes nothing
# the rollback needs.
@pytest.mark.parametrize("scope", ["system", "user"])
def test_a_restore_killed_right_after_its_commit_ends_the_chain_and_rolls_back(
    scope, data_dir
):
    killed = killed_restore(data_dir, scope)
    env = killed["env"]
    (run,) = run_python(env, STORED)["runs"]
    assert run["status"] == "running"  # as the kill left it
    assert_the_chain_ended(killed)

    rollback = run_manage(env, "restore_backup", "--rollback", str(run["id"]), "--json")

    assert rollback.returncode == 0, rollback.stderr
    assert json.loads(rollback.stdout)["backup_id"] == run["pre_restore_backup_id"]
    assert run_python(env, STATE) == killed["changed"]
    (run,) = run_python(env, STORED)["runs"]
    assert run["status"] == "rolled_back" and run["applied_at"]
    assert run["error"].startswith(f"worker died: {run['worker']} stopped")
    assert "its restore was applied at" in run["error"]


@pytest.mark.parametrize("scope", ["system", "user"])
def test_a_run_killed_in_its_retention_step_says_its_restore_is_in(scope, data_dir):
    killed = killed_restore(data_dir, scope, script=KILL_IN_RETENTION)
    env = killed["env"]

    assert run_python(env, STATE) == killed["backed_up"]
    (run,) = run_python(env, STORED)["runs"]
    steps = {step["action"]: step for step in run["steps"]}
    assert steps["restore"]["status"] == "completed" and steps["restore"]["applied"]
    assert steps["retention"]["status"] == "running"  # as the kill left it

    rollback = run_manage(env, "restore_backup", "--rollback", str(run["id"]), "--json")

    assert rollback.returncode == 0, rollback.stderr
    assert run_python(env, STATE) == killed["changed"]
    (run,) = run_python(env, STORED)["runs"]
    steps = {step["action"]: step for step in run["steps"]}
    assert (steps["restore"]["status"], steps["retention"]["status"]) == (
        "completed",
        "failed",
    )
    assert "its restore was applied at" in run["error"]
