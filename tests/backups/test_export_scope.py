"""An export's scope: only what the user sent, or whole conversations they are in.

The expected rows are worked out here from the models, message by message,
by the rule of docs/export-format.md ("What an export holds"), and every
format is parsed back and compared with them row by row.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

import backups.admin_exports  # noqa: F401 (registers the action, as admin.py will)
from backups.exports import ExportRefused, source, write_export
from backups.exports.media import media_path
from backups.models import ExportJob
from backups.services.exporting import export_user_data
from messaging.models import Conversation, MediaFile, Message, Participant
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR
from tests.backups.conftest import HINDI, SECRET_BODY, TELUGU, add_media
from tests.backups.test_export_formats import (
    html_messages,
    parse_html,
    parsed_records,
)
from tests.backups.test_export_views import urlpatterns  # noqa: F401 (admin URLs)

pytestmark = pytest.mark.django_db

# Canaries of rows asha must never receive, whatever the scope.
NOT_HERS = "ravi-and-meena-only-canary-0b3e"
BEFORE_SHE_JOINED = "before-asha-joined-canary-5d21"
DELETED_FOR_READERS = "deleted-for-readers-canary-93aa"
AFTER_SHE_LEFT = "after-asha-left-canary-71c4"
FOREIGN_MEDIA = b"GIF89a" + b"foreign-media-canary-c0de" * 16
# Rows only the whole-conversations scope carries.
ANONYMOUS_BODY = "an anonymous tip from a member"
RAVI_PHOTO = b"\xff\xd8\xff\xe0" + b"ravi-photo-bytes-7f7f" * 32


@pytest.fixture
def scope_world(world):
    """``world`` plus what tells the two scopes apart (see the canaries)."""
    asha, ravi, meena = world.asha, world.ravi, world.meena
    now = timezone.now()
    # A conversation asha is not in, with a file attached.
    theirs = Conversation.objects.create(kind="direct")
    for user in (ravi, meena):
        Participant.objects.create(conversation=theirs, user=user, joined_at=now)
    secret = Message.objects.create(
        conversation=theirs, sender=meena, kind="regular", body=NOT_HERS
    )
    add_media(
        meena,
        FOREIGN_MEDIA,
        name="theirs.gif",
        content_type="image/gif",
        message=secret,
    )
    # The group: something from before asha joined, an anonymous message, a
    # message deleted for its readers, and ravi's photo.
    Participant.objects.filter(conversation=world.group, user=asha).update(
        joined_at=now - timedelta(minutes=1)
    )
    # asha joined the direct conversation well before its messages. (On
    # PostgreSQL a row's created_at is at most its transaction's start, and
    # this test runs in one transaction, so "now" here is later than that.)
    Participant.objects.filter(conversation=world.direct).update(
        joined_at=now - timedelta(minutes=5)
    )
    early = Message.objects.create(
        conversation=world.group, sender=ravi, kind="group", body=BEFORE_SHE_JOINED
    )
    Message.objects.filter(pk=early.pk).update(created_at=now - timedelta(minutes=2))
    Message.objects.create(
        conversation=world.group, sender=ravi, kind="anonymous", body=ANONYMOUS_BODY
    )
    Message.objects.create(
        conversation=world.group,
        sender=meena,
        kind="group",
        body=DELETED_FOR_READERS,
        is_deleted=True,
    )
    photo = Message.objects.create(
        conversation=world.direct, sender=ravi, kind="regular"
    )
    add_media(
        ravi, RAVI_PHOTO, name="field.jpg", content_type="image/jpeg", message=photo
    )
    # asha's own anonymous and deleted messages stay hers.
    Message.objects.create(
        conversation=world.group, sender=asha, kind="anonymous", body="mine, unsigned"
    )
    Message.objects.create(
        conversation=world.direct,
        sender=asha,
        kind="regular",
        body="oops",
        is_deleted=True,
    )
    # A conversation asha has left: her message stays hers, the rest does not.
    left = Conversation.objects.create(kind="group", title="Old committee")
    for user in (asha, ravi):
        Participant.objects.create(conversation=left, user=user, joined_at=now)
    Message.objects.create(conversation=left, sender=asha, kind="group", body="bye")
    Message.objects.create(
        conversation=left, sender=ravi, kind="group", body=AFTER_SHE_LEFT
    )
    Participant.objects.filter(conversation=left, user=asha).delete()
    world.theirs, world.left = theirs, left
    return world


def export(user, export_format: str, **options: Any) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    write_export(buffer, user=user, export_format=export_format, **options)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


# --- The rule, worked out from the models ------------------------------------
def shown_messages(user, scope: str) -> list[Message]:
    """Return the messages an export of ``user`` in ``scope`` must hold."""
    joined = {
        p.conversation_id: p.joined_at for p in Participant.objects.filter(user=user)
    }
    found = []
    for message in Message.objects.order_by("conversation_id", "created_at", "id"):
        if message.sender_id == user.pk or (
            scope == "conversations"
            and message.conversation_id in joined
            and message.created_at >= joined[message.conversation_id]
            and not message.is_deleted
        ):
            found.append(message)
    return found


def expected(user, scope: str) -> dict[str, list[dict]]:
    """Return the messages and media files of ``user``'s export in ``scope``."""
    messages = shown_messages(user, scope)
    shown_ids = {m.pk for m in messages}
    messages_rows = []
    for m in messages:
        hidden = m.kind == "anonymous" and m.sender_id != user.pk
        messages_rows.append(
            {
                "id": m.id,
                "conversation_id": m.conversation_id,
                "sender": None if hidden or m.sender is None else m.sender.username,
                "kind": m.kind,
                "body": m.body,
                "is_edited": m.is_edited,
                "is_deleted": m.is_deleted,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
                "metadata": m.metadata,
            }
        )
    media_rows = [
        {
            "id": f.id,
            "message_id": f.message_id,
            "name": f.name,
            "content_type": f.content_type,
            "size": f.size,
            "sha256": f.sha256,
            "path": media_path(f.id, f.name),
            "created_at": f.created_at,
            "updated_at": f.updated_at,
        }
        for f in MediaFile.objects.order_by("id")
        if f.owner_id == user.pk
        or (scope == "conversations" and f.message_id in shown_ids)
    ]
    return {"messages": messages_rows, "media_files": media_rows}


def test_the_rule_tells_the_scopes_apart(scope_world):
    """The world holds rows of every case, so the comparisons below mean something."""
    asha = scope_world.asha
    sent = {m["body"] for m in expected(asha, "sent")["messages"]}
    whole = {m["body"] for m in expected(asha, "conversations")["messages"]}

    assert {SECRET_BODY, HINDI, ANONYMOUS_BODY, "meena joined"} <= whole - sent
    assert {TELUGU, "mine, unsigned", "oops", "bye"} <= sent & whole
    for canary in (NOT_HERS, BEFORE_SHE_JOINED, DELETED_FOR_READERS, AFTER_SHE_LEFT):
        assert canary not in whole
    names = {f["name"] for f in expected(asha, "conversations")["media_files"]}
    assert names == {"photo.png", "field.jpg"}


# --- Row by row, in every format ----------------------------------------------
@pytest.mark.parametrize("scope", ["sent", "conversations"])
@pytest.mark.parametrize("export_format", ["json", "csv", "ndjson"])
def test_each_scope_exports_exactly_its_rows(scope_world, export_format, scope):
    asha = scope_world.asha
    archive = export(asha, export_format, scope=scope)
    records = parsed_records(archive, export_format)
    rule = expected(asha, scope)

    assert records["messages"] == rule["messages"]
    assert records["media_files"] == rule["media_files"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["scope"] == scope
    assert manifest["counts"]["messages"] == len(rule["messages"])


def test_a_user_in_very_many_conversations_gets_the_same_rows(scope_world, monkeypatch):
    """Past ``MAX_LISTED_CONVERSATIONS`` the query stops naming them: same rows."""
    monkeypatch.setattr(source, "MAX_LISTED_CONVERSATIONS", 1)
    asha = scope_world.asha
    records = parsed_records(export(asha, "json", scope="conversations"), "json")

    assert records["messages"] == expected(asha, "conversations")["messages"]
    assert records["media_files"] == expected(asha, "conversations")["media_files"]


def test_whole_conversations_name_no_anonymous_sender(scope_world):
    archive = export(scope_world.asha, "json", scope="conversations")
    rows = json.loads(archive.read("export.json"))["messages"]
    by_body = {row["body"]: row for row in rows}

    assert by_body[ANONYMOUS_BODY]["sender"] is None
    assert by_body["mine, unsigned"]["sender"] == "asha"
    assert by_body["meena joined"]["sender"] is None
    assert by_body[SECRET_BODY]["sender"] == "ravi"
    assert "ravi" not in json.dumps(by_body[ANONYMOUS_BODY])


def test_whole_conversations_in_the_html_viewer(scope_world):
    asha = scope_world.asha
    archive = export(asha, "html", scope="conversations")
    shown = [
        {key: m[key] for key in ("id", "sender", "body", "created_at")}
        for m in html_messages(archive)
    ]
    rule = sorted(expected(asha, "conversations")["messages"], key=lambda m: m["id"])
    no_sender = {"system": "TALOWA", "anonymous": "Anonymous"}

    assert shown == [
        {
            "id": m["id"],
            "sender": m["sender"] or no_sender[m["kind"]],
            "body": m["body"],
            "created_at": m["created_at"],
        }
        for m in rule
    ]
    index = parse_html(archive.read("index.html"))
    assert "Messages in your conversations" in index.text
    photo = MediaFile.objects.get(name="field.jpg")
    assert archive.read(media_path(photo.id, photo.name)) == RAVI_PHOTO


@pytest.mark.parametrize("scope", ["sent", "conversations"])
@pytest.mark.parametrize("export_format", ["json", "csv", "ndjson", "html"])
def test_another_users_conversation_never_appears(scope_world, export_format, scope):
    archive = export(scope_world.asha, export_format, scope=scope)
    theirs = scope_world.theirs.id

    for name in archive.namelist():
        data = archive.read(name)
        for canary in (
            NOT_HERS,
            BEFORE_SHE_JOINED,
            DELETED_FOR_READERS,
            AFTER_SHE_LEFT,
        ):
            assert canary.encode() not in data, (name, canary)
        assert b"foreign-media-canary" not in data, name
        assert name != f"messages/{theirs}.html"
    if export_format != "html":
        records = parsed_records(archive, export_format)
        assert theirs not in {m["conversation_id"] for m in records["messages"]}
        assert theirs not in {c["id"] for c in records["conversations"]}


def test_sent_scope_is_the_default_and_says_so(scope_world):
    archive = export(scope_world.asha, "json")
    document = json.loads(archive.read("export.json"))

    assert json.loads(archive.read("manifest.json"))["scope"] == "sent"
    assert document["scope"] == "sent" and document["metadata"]["scope"] == "sent"
    assert document["metadata"]["selection"].startswith("The messages you sent")
    assert {m["sender"] for m in document["messages"]} == {"asha"}


def test_an_unknown_scope_is_refused_clearly(scope_world):
    with pytest.raises(ExportRefused, match="unknown export scope 'everyone'"):
        export(scope_world.asha, "json", scope="everyone")
    with pytest.raises(ExportRefused, match="choose sent or conversations"):
        export_user_data(scope_world.asha, scope="all")
    assert not ExportJob.objects.exists()


# --- The command, the page and the admin action --------------------------------
def test_the_command_takes_a_scope(scope_world, tmp_path):
    target = tmp_path / "asha.zip"
    out = io.StringIO()
    call_command(
        "export_data",
        "--user",
        "asha",
        "--format",
        "ndjson",
        "--scope",
        "conversations",
        "--output",
        str(target),
        "--json",
        stdout=out,
    )

    payload = json.loads(out.getvalue())
    archive = zipfile.ZipFile(target)
    assert payload["scope"] == "conversations"
    assert json.loads(archive.read("manifest.json"))["scope"] == "conversations"
    rule = expected(scope_world.asha, "conversations")
    assert parsed_records(archive, "ndjson")["messages"] == rule["messages"]
    event = AuditEvent.objects.get(action="export.create")
    assert event.details["scope"] == "conversations"


def test_the_command_refuses_an_unknown_scope(scope_world, tmp_path):
    with pytest.raises(CommandError, match="invalid choice: 'all'"):
        call_command(
            "export_data",
            "--user",
            "asha",
            "--format",
            "json",
            "--scope",
            "all",
            "--output",
            str(tmp_path / "x.zip"),
        )


def test_the_page_offers_both_and_records_the_choice(
    client, scope_world, sync_tasks, django_capture_on_commit_callbacks
):
    asha = scope_world.asha
    client.force_login(asha)
    page = client.get("/me/data/").content.decode()
    assert 'type="radio" name="scope" value="sent"' in page
    assert "Whole conversations I take part in" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/me/data/",
            {
                "format": "csv",
                "scope": "conversations",
                "data_types": ["messages"],
                "include_metadata": "on",
            },
        )

    job = ExportJob.objects.get()
    assert job.scope == "conversations" and job.status == "completed"
    status = client.get(f"/me/data/exports/{job.pk}/").content.decode()
    assert "whole conversations i take part in" in status
    with open(job_file(job), "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    assert json.loads(archive.read("manifest.json"))["scope"] == "conversations"
    rule = expected(asha, "conversations")
    assert parsed_records(archive, "csv")["messages"] == rule["messages"]
    request = AuditEvent.objects.get(action="export.request")
    assert request.details["scope"] == "conversations"


def job_file(job: ExportJob):
    from django.core.files.storage import storages

    return storages["exports"].path(job.files[0]["name"])


def test_the_page_explains_an_unknown_scope(client, scope_world):
    client.force_login(scope_world.asha)
    response = client.post(
        "/me/data/", {"format": "json", "scope": "everyone", "data_types": ["messages"]}
    )

    assert response.status_code == 400
    assert "Unknown choice of messages “everyone”" in response.content.decode()
    assert not ExportJob.objects.exists()


@pytest.mark.urls(__name__)
def test_the_admin_action_takes_a_scope(
    client, scope_world, role_user, django_capture_on_commit_callbacks, sync_tasks
):
    client.force_login(role_user(BACKUP_OPERATOR))
    changelist = "/admin/auth/user/"
    chosen = [scope_world.asha.pk]
    form = client.post(
        changelist, {"action": "export_data", "_selected_action": chosen}
    )
    assert 'name="scope" value="conversations"' in form.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            changelist,
            {
                "action": "export_data",
                "_selected_action": chosen,
                "apply": "yes",
                "format": "json",
                "scope": "conversations",
                "data_types": ["messages", "media_files"],
                "include_metadata": "on",
            },
        )

    job = ExportJob.objects.get()
    assert (job.user, job.scope, job.status) == (
        scope_world.asha,
        "conversations",
        "completed",
    )
    with open(job_file(job), "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    assert (
        parsed_records(archive, "json")["media_files"]
        == expected(scope_world.asha, "conversations")["media_files"]
    )
