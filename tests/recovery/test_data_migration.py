"""migrate_data: a backup's data into another database or an export, by rules."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backups.services import create_full_backup, create_incremental_backup
from messaging.models import Message
from tests.backups.conftest import HINDI, TELUGU
from tests.recovery.conftest import account_state, postgres_available, table_state

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*args: str) -> dict:
    out = StringIO()
    call_command("migrate_data", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def rules_file(tmp_path, *rules) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": list(rules)}))
    return str(path)


def _tuples(state: dict) -> dict:
    return {t: [tuple(r) for r in rows] for t, rows in state.items()}


def test_a_deployment_moves_to_the_other_engine_with_equal_fingerprints(world, scratch):
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    if other == "postgresql" and not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    create_full_backup()
    Message.objects.filter(body=HINDI).update(body="edited after the full")
    Message.objects.create(
        conversation=world.direct, sender=world.ravi, kind="regular", body="new"
    )
    Message.objects.filter(body="meena joined").delete()
    last = create_incremental_backup()
    expected = _tuples(json.loads(json.dumps(table_state())))
    accounts = [tuple(r) for r in json.loads(json.dumps(account_state()))]
    url = scratch.url(other)

    result = migrate("--from-backup", last, "--to-database", url)

    assert result["status"] == "completed" and result["equal"]
    for label, table in result["tables"].items():
        assert table["before"] == table["after"], label
    assert result["tables"]["messaging.message"]["after"]["rows"] == 5
    assert scratch.state(url) == expected
    assert scratch.accounts(url) == accounts


def test_a_target_that_holds_data_is_refused(world, scratch):
    backup_id = create_full_backup()
    url = scratch.url("sqlite")
    migrate("--from-backup", backup_id, "--to-database", url)
    with pytest.raises(CommandError, match="already holds auth.user rows"):
        migrate("--from-backup", backup_id, "--to-database", url)


def _migrated(tmp_path, scratch, *rules) -> tuple[dict, dict, list]:
    backup_id = create_full_backup()
    url = scratch.url("sqlite")
    result = migrate(
        "--from-backup",
        backup_id,
        "--to-database",
        url,
        "--rules",
        rules_file(tmp_path, *rules),
    )
    return result, scratch.state(url), scratch.accounts(url)


# Column positions in table_state() rows (the models' field order).
BODY, METADATA, KIND, SENDER = 6, 7, 5, 4
USERNAME, EMAIL = 4, 7


def _bodies(state) -> list[str]:
    return sorted(row[BODY] for row in state["messaging_message"])


def test_drop_types_leaves_the_data_type_out(world, scratch, tmp_path):
    result, state, _ = _migrated(
        tmp_path, scratch, {"kind": "drop_types", "types": ["call_history"]}
    )
    assert state["messaging_callrecord"] == []
    assert len(state["messaging_message"]) == 5
    assert result["tables"]["messaging.callrecord"]["dropped"]
    assert not result["equal"]


def test_drop_fields_empties_the_column(world, scratch, tmp_path):
    _, state, _ = _migrated(
        tmp_path, scratch, {"kind": "drop_fields", "fields": ["message.metadata"]}
    )
    assert {row[METADATA] for row in state["messaging_message"]} == {"{}"}
    assert TELUGU in _bodies(state)


def test_anonymise_gives_one_pseudonym_per_value(world, scratch, tmp_path):
    world.asha.email = "asha@example.org"
    world.asha.save()
    Message.objects.create(
        conversation=world.direct,
        sender=world.ravi,
        kind="regular",
        body="Call Asha on +91 98480 22338 or asha@example.org",
        metadata={"note": "asha said +919848022338"},
    )
    _, state, accounts = _migrated(
        tmp_path,
        scratch,
        {
            "kind": "anonymise",
            "fields": [
                "message.body",
                "message.metadata",
                "user.username",
                "user.email",
            ],
        },
    )
    usernames = {row[0]: row[USERNAME] for row in accounts}
    pseudonym = usernames[world.asha.pk]
    assert pseudonym.startswith("person-") and "asha" not in usernames.values()
    row = next(r for r in state["messaging_message"] if "Call" in r[BODY])
    body, metadata = row[BODY], json.loads(row[METADATA])
    assert "asha" not in body.lower() and "98480" not in body
    assert body.startswith(f"Call {pseudonym} on +000")
    email = next(r[EMAIL] for r in accounts if r[0] == world.asha.pk)
    assert email in body and email.endswith("@example.invalid")
    phone = body.split(" on ")[1].split(" ")[0]
    assert metadata == {"note": f"{pseudonym} said {phone}"}


def test_anonymise_redacts(world, scratch, tmp_path):
    Message.objects.create(
        conversation=world.direct,
        sender=world.ravi,
        kind="regular",
        body="ring ravi: 040-2345-6789",
    )
    _, state, _ = _migrated(
        tmp_path,
        scratch,
        {"kind": "anonymise", "fields": ["message.body"], "method": "redact"},
    )
    assert "ring [name]: [phone]" in _bodies(state)


def test_filter_by_user_keeps_their_rows_and_the_accounts_they_need(
    world, scratch, tmp_path
):
    _, state, accounts = _migrated(
        tmp_path, scratch, {"kind": "filter", "users": ["asha"]}
    )
    assert {r[SENDER] for r in state["messaging_message"]} == {world.asha.pk}
    assert {r[4] for r in state["messaging_participant"]} == {world.asha.pk}
    assert [r[3] for r in state["messaging_callrecord"]] == [world.asha.pk]
    # ravi is the other party of asha's call; meena is in no kept row.
    assert {r[USERNAME] for r in accounts} == {"asha", "ravi"}


def test_filter_by_conversation_dates_and_retention_type(world, scratch, tmp_path):
    _, state, _ = _migrated(
        tmp_path,
        scratch,
        {"kind": "filter", "conversations": [world.group.pk]},
        {
            "kind": "filter",
            "retention_types": ["group_messages", "voice_messages", "media_files"],
        },
        {"kind": "filter", "from": "2000-01-01", "to": "2999-01-01T00:00:00"},
    )
    assert {r[3] for r in state["messaging_conversation"]} == {"group"}
    assert sorted(r[KIND] for r in state["messaging_message"]) == ["group", "voice"]
    assert state["messaging_callrecord"] == []  # calls have no conversation here
    assert len(state["messaging_mediafile"]) == 1  # attached to the voice note


def test_filter_by_date_leaves_older_rows_out_from_a_yaml_file(
    world, scratch, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - kind: filter\n    to: 2000-01-01\n")
    result = migrate(
        "--from-backup",
        create_full_backup(),
        "--to-database",
        url := scratch.url("sqlite"),
        "--rules",
        str(rules),
    )
    state = scratch.state(url)
    assert state["messaging_message"] == [] and state["messaging_callrecord"] == []
    assert len(state["messaging_conversation"]) == 2
    assert result["tables"]["messaging.message"]["removed"] == 5


def test_an_invalid_yaml_rule_is_named(world, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - kind: filter\n    users: asha\n")
    with pytest.raises(CommandError, match=r"rule 0 \(filter\): field users"):
        migrate("--from-backup", "b", "--to-database", "sqlite:///x", "--rules", rules)


def test_map_rewrites_values(world, scratch, tmp_path):
    _, state, _ = _migrated(
        tmp_path,
        scratch,
        {"kind": "map", "field": "message.kind", "values": {"voice": "regular"}},
    )
    assert sorted(r[KIND] for r in state["messaging_message"]) == [
        "group",
        "regular",
        "regular",
        "regular",
        "system",
    ]


def test_an_export_of_one_user_after_the_rules(world, scratch, tmp_path):
    backup_id = create_full_backup()
    output = tmp_path / "asha.zip"
    rules = rules_file(
        tmp_path,
        {"kind": "filter", "users": ["asha"]},
        {"kind": "drop_types", "types": ["media_files"]},
    )
    result = migrate(
        "--from-backup",
        backup_id,
        "--to-export",
        "ndjson",
        "--output",
        str(output),
        "--rules",
        rules,
    )
    assert result["target"]["result"]["counts"]["messages"] == 2
    records = [
        json.loads(line)
        for line in zipfile.ZipFile(output).read("export.ndjson").splitlines()
    ]
    assert {r["type"] for r in records} >= {"export", "messages", "call_history"}
    assert "media_files" not in {r["type"] for r in records}


def test_a_dry_run_writes_nothing(world, scratch, tmp_path):
    backup_id = create_full_backup()
    url = scratch.url("sqlite")
    result = migrate("--from-backup", backup_id, "--to-database", url, "--dry-run")
    assert result["status"] == "dry_run" and result["equal"]
    assert not (tmp_path / url.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"kind": "shuffle"}], r"rule 0 \(shuffle\): field kind: 'shuffle'"),
        (
            [{"kind": "filter", "users": ["a"]}, {"kind": "drop_types", "types": []}],
            r"rule 1 \(drop_types\): field types: a non-empty list",
        ),
        (
            [{"kind": "drop_fields", "fields": ["message.colour"]}],
            r"rule 0 \(drop_fields\): field fields: 'message.colour': message has "
            "no column 'colour'",
        ),
        (
            [{"kind": "drop_fields", "fields": ["message.sender_id"]}],
            r"field fields: 'message.sender_id' is an id or a reference",
        ),
        (
            [{"kind": "anonymise", "fields": ["user.username"], "method": "redact"}],
            r"rule 0 \(anonymise\): field method: redacting user.username",
        ),
        (
            [{"kind": "map", "field": "message.kind", "values": {"voice": "tune"}}],
            r"rule 0 \(map\): field values: 'tune' is not a message.kind",
        ),
        (
            [{"kind": "filter", "from": "yesterday"}],
            r"rule 0 \(filter\): field from: 'yesterday' is not an ISO date",
        ),
        (
            [{"kind": "filter", "retention_types": ["spam"]}],
            r"rule 0 \(filter\): field retention_types: 'spam' is not accepted",
        ),
        (
            [{"kind": "drop_types", "types": ["conversations"]}],
            r"drop_types: messages need conversations",
        ),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule(world, tmp_path, rules, message):
    with pytest.raises(CommandError, match=message):
        migrate(
            "--from-backup",
            "backup_x",
            "--to-database",
            "sqlite:///x",
            "--rules",
            rules_file(tmp_path, *rules),
        )


def test_a_rules_file_that_is_not_json_is_refused(world, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text("rules: []")
    with pytest.raises(CommandError, match="not valid JSON"):
        migrate("--from-backup", "b", "--to-database", "sqlite:///x", "--rules", path)


def test_the_command_names_the_rule_in_one_line_without_a_traceback(
    world, scratch, tmp_path
):
    rules = rules_file(tmp_path, {"kind": "map", "field": "message.kind"})
    url = scratch.url("sqlite")
    done = scratch.manage(
        url,
        "migrate_data",
        "--from-backup",
        "backup_x",
        "--to-database",
        url,
        "--rules",
        rules,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "rule 0 (map): field values: missing" in done.stderr


def test_a_filter_naming_an_unknown_user_is_refused_naming_the_rule(
    world, scratch, tmp_path
):
    rules = rules_file(
        tmp_path,
        {"kind": "map", "field": "message.kind", "values": {"voice": "regular"}},
        {"kind": "filter", "users": ["nobody"]},
    )
    url = scratch.url("sqlite")
    with pytest.raises(CommandError, match=r"rule 1 \(filter\): field users: no acc"):
        migrate(
            "--from-backup",
            create_full_backup(),
            "--to-database",
            url,
            "--rules",
            rules,
        )
