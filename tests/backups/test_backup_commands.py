"""The backup commands' contract: --json, exit codes, one-line errors."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.models import Backup

pytestmark = pytest.mark.django_db(transaction=True)

DESIGN_KEYS = {
    "id",
    "kind",
    "status",
    "scope",
    "user",
    "parent",
    "counts",
    "size_bytes",
    "created_at",
}


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_backup_json_matches_the_design(world):
    payload = json.loads(run("create_backup", "--json", "--note", "before upgrade"))
    assert set(payload) >= DESIGN_KEYS
    assert payload["id"].startswith("backup_")
    assert payload["kind"] == "full" and payload["status"] == "completed"
    assert payload["counts"]["messages"] == 5
    incremental = json.loads(run("create_backup", "--incremental", "--json"))
    assert incremental["parent"] == payload["id"]
    user = json.loads(
        run(
            "create_backup",
            "--user",
            "asha",
            "--types",
            "messages,call_history",
            "--json",
        )
    )
    assert user["scope"] == "user" and user["user"] == "asha"
    assert user["counts"]["messages"] == 2


def test_create_backup_prints_the_id(world):
    backup_id = run("create_backup").strip()
    assert Backup.objects.filter(pk=backup_id, status="completed").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "no user named 'nobody'"),
        (["--types", "messages,photos"], "unknown data type(s) photos"),
        (["--incremental"], "create a full backup first"),
        (["--incremental", "--types", "messages"], "--types applies to full"),
    ],
)
def test_create_backup_bad_input(world, args, message):
    with pytest.raises(
        CommandError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        run("create_backup", *args)


def test_list_and_verify(world):
    first = json.loads(run("create_backup", "--json"))["id"]
    listed = json.loads(run("list_backups", "--json"))["backups"]
    assert [b["id"] for b in listed] == [first]
    assert first in run("list_backups")
    verified = json.loads(run("verify_backup", "--all", "--json"))
    assert verified["ok"] is True
    with pytest.raises(CommandError, match="no backup 'backup_nope'"):
        run("verify_backup", "backup_nope")
    with pytest.raises(CommandError, match="give backup ids or --all"):
        run("verify_backup")


def test_verify_failure_is_non_zero_with_json(world):
    from backups.storage import object_store

    backup_id = json.loads(run("create_backup", "--json"))["id"]
    path = object_store().root / f"archives/{backup_id}.tbk"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 backup"):
        call_command("verify_backup", backup_id, "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is False


def test_expire_backups_dry_run_and_noinput(world):
    first = json.loads(run("create_backup", "--json"))["id"]
    run("create_backup")
    preview = json.loads(
        run("expire_backups", "--keep-last", "1", "--dry-run", "--json")
    )
    assert preview["would_expire"] == [first]
    assert Backup.objects.get(pk=first).status == "completed"
    run("expire_backups", "--keep-last", "1", "--noinput")
    assert Backup.objects.get(pk=first).status == "expired"
    with pytest.raises(CommandError, match="not a duration"):
        run("expire_backups", "--keep-within", "soon")
