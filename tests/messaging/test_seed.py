"""The seed_messaging command: deterministic, realistic, careful with existing data.

Engine-agnostic: runs on SQLite by default and on PostgreSQL when DATABASE_URL
points at it (the COPY path, with its index and foreign-key rebuild).
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F, OuterRef, Q, Subquery

from messaging.models import (
    CallRecord,
    Conversation,
    MediaFile,
    Message,
    Participant,
    Tombstone,
)
from messaging.seeding import generator
from messaging.seeding.service import SEEDED_MODELS
from messaging.seeding.writers import copy_encoder, writer_for

SMALL = {"users": 12, "conversations": 30, "messages": 600, "calls": 80, "media": 40}
VARIED = {
    "users": 40,
    "conversations": 80,
    "messages": 4000,
    "calls": 400,
    "media": 300,
}
ANCHOR = "2026-03-31"


@pytest.fixture(autouse=True)
def media_dir(settings, tmp_path):
    """Point the media storage at a fresh directory (``settings`` resets the cache)."""
    return use_media_dir(settings, tmp_path / "media")


def use_media_dir(settings, path):
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(path)},
        },
    }
    return path


@pytest.fixture
def seed_db(transactional_db):
    """A database that the command commits to, with empty messaging tables.

    The command commits (and on PostgreSQL alters tables), hence a
    transactional test. On SQLite the test database's flush deletes tables in
    no fixed order, so a delete trigger may leave tombstones behind; deleting
    children first and tombstones last leaves nothing.
    """
    clear_messaging()
    yield
    clear_messaging()


def clear_messaging() -> None:
    tables = [model._meta.db_table for model in (*SEEDED_MODELS, Tombstone)]
    writer_for(connection).delete_all(tables)


def seed(*extra: str, **counts: int) -> dict:
    """Run the command with ``--json`` and return its output object."""
    args = [f"--{name}={value}" for name, value in {**SMALL, **counts}.items()]
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "seed_messaging",
        *args,
        "--anchor",
        ANCHOR,
        "--json",
        *extra,
        stdout=stdout,
        stderr=stderr,
    )
    return json.loads(stdout.getvalue())


def dump() -> dict:
    """Every seeded row (ids and timestamps included), the users and the bytes."""
    data = {}
    for model in (Conversation, Participant, Message, CallRecord, MediaFile):
        fields = [field.attname for field in model._meta.concrete_fields]
        data[model.__name__] = list(model.objects.order_by("pk").values_list(*fields))
    users = get_user_model().objects.filter(username__startswith="seed_user_")
    data["users"] = list(
        users.order_by("pk").values_list(
            "pk", "username", "first_name", "last_name", "password", "date_joined"
        )
    )
    storage = storages["media"]
    names = MediaFile.objects.values_list("file", flat=True).distinct()
    data["bytes"] = {name: read(storage, name) for name in names}
    return data


def read(storage, name: str) -> bytes:
    with storage.open(name, "rb") as handle:
        return handle.read()


def test_same_seed_gives_identical_data_and_bytes(seed_db, settings, tmp_path):
    first = seed("--seed", "7")
    before = dump()
    use_media_dir(settings, tmp_path / "again")  # the bytes are written afresh
    second = seed("--seed", "7", "--replace", "--noinput")
    assert dump() == before
    assert first["counts"] == second["counts"]
    assert second["media_objects_written"] == first["media_objects_written"] > 0
    assert Tombstone.objects.count() == 0


def test_a_different_seed_gives_different_data(seed_db):
    seed("--seed", "1")
    one = dump()
    seed("--seed", "2", "--replace", "--noinput")
    two = dump()
    for table in ("Conversation", "Participant", "Message", "CallRecord", "MediaFile"):
        assert one[table] != two[table]
    assert one["users"] == two["users"]  # reused, not re-created


def test_counts_match_the_arguments(seed_db):
    result = seed()
    expected = {
        "users": SMALL["users"],
        "conversations": SMALL["conversations"],
        "messages": SMALL["messages"],
        "call_history": SMALL["calls"],
        "media_files": SMALL["media"],
    }
    assert {k: result["counts"][k] for k in expected} == expected
    assert Conversation.objects.count() == SMALL["conversations"]
    assert Message.objects.count() == SMALL["messages"]
    assert CallRecord.objects.count() == SMALL["calls"]
    assert MediaFile.objects.count() == SMALL["media"]
    assert Participant.objects.count() == result["counts"]["participants"]
    assert result["users_created"] == SMALL["users"]
    assert result["seed"] == 1 and result["anchor"] == ANCHOR


def test_every_kind_status_and_medium_is_present(seed_db):
    seed(**VARIED)
    assert set(Message.objects.values_list("kind", flat=True)) == set(Message.Kind)
    assert set(CallRecord.objects.values_list("status", flat=True)) == set(
        CallRecord.Status
    )
    assert set(CallRecord.objects.values_list("media", flat=True)) == {"voice", "video"}
    assert set(Conversation.objects.values_list("kind", flat=True)) == {
        "direct",
        "group",
    }
    assert Message.objects.filter(is_edited=True).exists()
    assert Message.objects.filter(is_deleted=True).exists()
    assert Message.objects.exclude(metadata={}).exists()
    voice_with_file = Message.objects.filter(kind="voice", media_files__isnull=False)
    assert voice_with_file.exists()
    assert not voice_with_file.exclude(media_files__content_type="audio/wav").exists()
    types = set(MediaFile.objects.values_list("content_type", flat=True))
    assert {"image/png", "audio/wav", "application/pdf"} <= types
    assert MediaFile.objects.filter(message=None).exists()


def test_groups_have_three_to_fifty_members_and_titles(seed_db):
    seed(**VARIED)
    groups = Conversation.objects.filter(kind="group")
    assert groups.exists() and not groups.filter(title="").exists()
    for conversation in groups:
        assert 3 <= conversation.participants.count() <= 50
    for conversation in Conversation.objects.filter(kind="direct"):
        assert conversation.participants.count() == 2


def test_text_is_in_telugu_hindi_and_english_with_emoji(seed_db):
    seed(**VARIED)
    bodies = "".join(Message.objects.values_list("body", flat=True))
    assert any("\u0c00" <= char <= "\u0c7f" for char in bodies)  # Telugu
    assert any("\u0900" <= char <= "\u097f" for char in bodies)  # Devanagari
    assert any(char.isascii() and char.isalpha() for char in bodies)
    assert any(ord(char) >= 0x1F300 for char in bodies)  # emoji
    assert "\n" in bodies and "\t" in bodies and "\\" in bodies  # escaped on COPY
    lengths = [len(body) for body in Message.objects.values_list("body", flat=True)]
    assert min(lengths) <= 5 and max(lengths) >= 200


def test_rows_respect_time_and_membership_invariants(seed_db):
    seed(**VARIED)
    for model in SEEDED_MODELS:
        assert not model.objects.filter(updated_at__lt=F("created_at")).exists()
    joined = Participant.objects.filter(
        conversation=OuterRef("conversation"), user=OuterRef("sender")
    ).values("joined_at")[:1]
    late = Message.objects.exclude(sender=None).annotate(joined=Subquery(joined))
    assert not late.filter(Q(joined=None) | Q(joined__gt=F("created_at"))).exists()
    assert not Message.objects.filter(kind="system").exclude(sender=None).exists()
    assert not Message.objects.exclude(kind="system").filter(sender=None).exists()
    calls = CallRecord.objects
    assert not calls.filter(caller=F("callee")).exists()
    assert not calls.exclude(status="completed").exclude(duration_seconds=0).exists()
    assert not calls.filter(status="completed", duration_seconds=0).exists()
    attached = MediaFile.objects.exclude(message=None)
    assert not attached.exclude(owner=F("message__sender")).exists()


def test_timestamps_span_the_window_ending_on_the_anchor(seed_db):
    seed(**VARIED)
    anchor = date.fromisoformat(ANCHOR)
    stamps = list(Message.objects.values_list("created_at", flat=True))
    stamps += list(CallRecord.objects.values_list("updated_at", flat=True))
    days = {stamp.date() for stamp in stamps}
    assert max(days) == anchor
    assert min(days) >= anchor - timedelta(days=399)
    assert min(days) <= anchor - timedelta(days=365)  # a 365-day rule finds data


def test_media_bytes_are_stored_once_by_content_and_match_the_rows(seed_db):
    seed(**VARIED)
    storage = storages["media"]
    rows = MediaFile.objects.values_list("file", "size", "sha256", "content_type")
    assert len({row[0] for row in rows}) < len(rows)  # shared payloads
    signatures = {
        "image/png": b"\x89PNG\r\n\x1a\n",
        "audio/wav": b"RIFF",
        "application/pdf": b"%PDF-",
    }
    for name, size, sha256, content_type in rows:
        assert name == f"{sha256[:2]}/{sha256}"
        data = read(storage, name)
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha256
        assert data.startswith(signatures.get(content_type, b""))


def test_seed_users_are_end_users_and_are_reused(seed_db):
    existing = get_user_model().objects.create_user("seed_user_00002", is_staff=True)
    result = seed()
    assert result["users_created"] == SMALL["users"] - 1
    users = get_user_model().objects.filter(username__startswith="seed_user_")
    assert users.count() == SMALL["users"]
    assert users.get(username="seed_user_00002").pk == existing.pk
    for user in users.exclude(pk=existing.pk):
        assert not user.is_staff and not user.is_superuser
        assert not user.has_usable_password()


def test_media_without_messages_belongs_to_no_message(seed_db):
    result = seed(messages=0, media=25)
    assert result["counts"]["media_files"] == 25
    assert not MediaFile.objects.exclude(message=None).exists()


@pytest.mark.parametrize(
    "counts",
    [
        {"users": 0, "conversations": 0, "messages": 0, "calls": 0, "media": 0},
        {"users": 2, "conversations": 0, "messages": 0, "calls": 9, "media": 0},
        {"users": 2, "conversations": 3, "messages": 40, "calls": 4, "media": 90},
        {"users": 3, "conversations": 1, "messages": 1, "calls": 1, "media": 1},
    ],
)
def test_tiny_and_empty_plans_are_seeded_exactly(seed_db, counts):
    result = seed(**counts)["counts"]
    assert result["conversations"] == Conversation.objects.count()
    assert [result[k] for k in ("messages", "call_history", "media_files")] == [
        counts["messages"],
        counts["calls"],
        counts["media"],
    ]
    assert not CallRecord.objects.filter(caller=F("callee")).exists()
    if counts["users"] < 3:
        assert not Conversation.objects.filter(kind="group").exists()


def test_ids_continue_after_the_seeded_rows(seed_db):
    seed()
    conversation = Conversation.objects.order_by("pk").first()
    message = Message.objects.create(
        conversation=conversation,
        sender_id=conversation.created_by_id,
        kind="regular",
        body="after seeding",
    )
    assert message.pk == SMALL["messages"] + 1


def test_indexes_and_constraints_are_as_migrations_made_them(seed_db):
    def schema() -> dict:
        with connection.cursor() as cursor:
            return {
                model._meta.db_table: connection.introspection.get_constraints(
                    cursor, model._meta.db_table
                )
                for model in (*SEEDED_MODELS, Tombstone)
            }

    before = schema()
    seed(**VARIED)
    assert schema() == before
    assert any(c["foreign_key"] for c in before["messaging_message"].values())


def test_tables_holding_data_are_refused(seed_db):
    seed()
    with pytest.raises(CommandError) as excinfo:
        seed()
    message = str(excinfo.value)
    assert message.startswith("messaging tables already hold data (")
    assert f"{SMALL['messages']} messages" in message
    assert "run with --replace to delete it first" in message


def test_tombstones_alone_count_as_data(seed_db):
    seed()
    for model in (MediaFile, CallRecord, Conversation):  # the ORM way: tombstones
        model.objects.all().delete()
    assert not Message.objects.exists() and Tombstone.objects.exists()
    with pytest.raises(CommandError, match="tombstones"):
        seed()
    seed("--replace", "--noinput")
    assert Tombstone.objects.count() == 0


def test_replace_keeps_other_apps_rows_that_refer_to_the_data(seed_db):
    from retention.models import LegalHold

    seed()
    seed("--seed", "3", "--replace", "--noinput")  # empty referencing tables
    hold = LegalHold.objects.create(
        conversation=Conversation.objects.first(), reason="litigation"
    )
    before = dump()
    with pytest.raises(CommandError, match="retention_legalhold holds rows"):
        seed("--seed", "4", "--replace", "--noinput")
    assert dump() == before
    assert LegalHold.objects.filter(pk=hold.pk).exists()
    hold.delete()  # so that the fixture can empty the messaging tables


def test_replace_asks_first_and_a_no_changes_nothing(seed_db, monkeypatch):
    seed()
    before = dump()
    monkeypatch.setattr("builtins.input", lambda *args: "no")
    with pytest.raises(CommandError, match="cancelled"):
        seed("--seed", "5", "--replace")
    assert dump() == before
    monkeypatch.setattr("builtins.input", lambda *args: "yes")
    seed("--seed", "5", "--replace")
    assert dump() != before


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--users=-1"], "--users must be a whole number >= 0"),
        (["--messages=-5"], "--messages must be a whole number >= 0"),
        (["--messages=50000001"], "more than the limit"),
        (["--users=10000001"], "more than the limit"),
        (["--users=1", "--calls=0"], "--conversations needs --users 2"),
        (["--users=1", "--conversations=0", "--messages=0"], "--calls needs --users"),
        (["--conversations=0"], "--messages needs --conversations"),
        (
            ["--users=0", "--conversations=0", "--messages=0", "--calls=0"],
            "--media needs --users",
        ),
        (["--anchor", "2026-02-30"], "is not a date"),
        (["--anchor", "yesterday"], "is not a date"),
        (["--anchor", "1900-01-01"], "--anchor must be"),
    ],
)
def test_bad_input_is_refused_with_a_reason(arguments, problem):
    args = [f"--{name}={value}" for name, value in SMALL.items()]
    # No database: the plan is checked before anything is read or written.
    with pytest.raises(CommandError, match=problem):
        call_command("seed_messaging", *args, *arguments, stdout=io.StringIO())


def test_text_output_summarises_the_run(seed_db):
    stdout = io.StringIO()
    args = [f"--{name}={value}" for name, value in SMALL.items()]
    call_command("seed_messaging", *args, stdout=stdout, stderr=io.StringIO())
    assert stdout.getvalue().startswith(f"Seeded {SMALL['users']} users")


def test_table_specs_cover_every_column_of_the_seeded_models():
    specs = {table.name: table for table in generator.TABLES}
    for model in SEEDED_MODELS:
        table = specs[model._meta.db_table]
        columns = {field.column for field in model._meta.concrete_fields}
        assert set(table.columns) == columns
        nullable = {f.column for f in model._meta.concrete_fields if f.null}
        assert set(table.nullable_columns) == nullable


def test_copy_encoder_escapes_text_and_writes_nulls():
    encode = copy_encoder(generator.MESSAGES)
    row = (
        1,
        2,
        None,
        "system",
        "a\\b\tc\nd\re",
        "{}",
        False,
        True,
        "2026-01-01 00:00:00",
        "2026-01-01 00:00:00.250000",
    )
    assert encode([row]) == (
        "1\t2\t\\N\tsystem\ta\\\\b\\tc\\nd\\re\t{}\tFalse\tTrue\t"
        "2026-01-01 00:00:00\t2026-01-01 00:00:00.250000\n"
    )
