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


RIGHT_KEY = ("k1", b"\x01" * 32)


def verification_state() -> dict[str, tuple]:
    return {
        b.id: (b.verified_at, b.verify_ok, b.verify_error)
        for b in Backup.objects.order_by("id")
    }


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ([("k1", b"\x02" * 32)], "it is not the key that encrypted"),  # wrong key
        ([("k2", b"\x02" * 32)], "backup key 'k1' is not configured"),  # missing
    ],
)
def test_a_key_problem_leaves_every_backup_as_it_was(world, settings, keys, reason):
    settings.TALOWA_BACKUP_KEYS = [RIGHT_KEY]
    run("create_backup")
    run("create_backup", "--incremental")
    run("verify_backup", "--all")
    before = verification_state()
    assert [ok for _at, ok, _error in before.values()] == [True, True]

    settings.TALOWA_BACKUP_KEYS = keys
    out = io.StringIO()
    with pytest.raises(CommandError, match="cannot verify") as failure:
        call_command("verify_backup", "--all", "--json", stdout=out)
    assert reason in str(failure.value)
    assert "2 of 2 backup(s) were not checked" in str(failure.value)
    results = json.loads(out.getvalue())["results"]
    assert [(r["ok"], r["checked"]) for r in results] == [(False, False)] * 2
    assert all(r["error"].startswith("cannot verify: ") for r in results)
    assert verification_state() == before


def test_only_a_damaged_archive_is_marked_failed(world, settings):
    from backups.storage import object_store

    settings.TALOWA_BACKUP_KEYS = [RIGHT_KEY]
    damaged = run("create_backup").strip()
    intact = run("create_backup").strip()
    path = object_store().root / f"archives/{damaged}.tbk"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="1 of 2 backup") as failure:
        run("verify_backup", "--all")
    assert "cannot verify" not in str(failure.value)
    state = verification_state()
    assert state[damaged][1] is False and "chunk" in state[damaged][2]
    assert state[intact][1] is True and state[intact][2] == ""
