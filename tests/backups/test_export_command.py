"""``manage.py export_data``: a user's export into a local file."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from talowa_admin.models import AuditEvent
from tests.backups.conftest import TELUGU

pytestmark = pytest.mark.django_db


@pytest.fixture
def out_dir(tmp_path):
    """A folder of its own (``tmp_path`` also holds the test's data directory)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("export_data", *args, stdout=out)
    return out.getvalue()


def test_writes_the_archive_and_says_where(world, out_dir):
    target = out_dir / "asha.zip"
    text = run("--user", "asha", "--format", "json", "--output", str(target))

    archive = zipfile.ZipFile(target)
    document = json.loads(archive.read("export.json"))
    assert TELUGU in {m["body"] for m in document["messages"]}
    assert str(target) in text and "2 messages" in text
    assert hashlib.sha256(target.read_bytes()).hexdigest() in text
    event = AuditEvent.objects.get(action="export.create")
    assert event.actor_label == "command:export_data"
    assert event.details["output"] == str(target)
    assert [p.name for p in out_dir.iterdir()] == ["asha.zip"]  # no partial left


def test_json_output_is_one_object_describing_the_file(world, out_dir):
    target = out_dir / "asha.zip"
    payload = json.loads(
        run(
            "--user",
            "asha",
            "--format",
            "csv",
            "--types",
            "messages,call_history",
            "--no-metadata",
            "--output",
            str(target),
            "--json",
        )
    )

    assert payload["user"] == "asha" and payload["status"] == "completed"
    assert payload["format"] == "csv" and payload["include_metadata"] is False
    assert payload["counts"] == {"messages": 2, "call_history": 1}
    assert payload["files"] == [
        {
            "name": str(target),
            "size": target.stat().st_size,
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        }
    ]
    names = zipfile.ZipFile(target).namelist()
    assert sorted(names) == ["call_history.csv", "manifest.json", "messages.csv"]


def test_a_folder_as_output_gets_a_named_file(world, out_dir):
    run("--user", "ravi", "--format", "html", "--output", str(out_dir))

    (written,) = out_dir.iterdir()
    assert written.name.startswith("talowa-export-ravi-")
    assert written.name.endswith("-html.zip")
    assert "index.html" in zipfile.ZipFile(written).namelist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "invalid choice: 'xml'"),
        (
            ["--format", "json", "--types", "messages,contacts"],
            "unknown data type(s) contacts",
        ),
        (["--format", "json", "--user", "nobody"], "no user named 'nobody'"),
    ],
)
def test_bad_arguments_are_one_clear_error(world, out_dir, args, message):
    base = ["--user", "asha", "--output", str(out_dir / "x.zip")]
    with pytest.raises(CommandError) as caught:
        run(*base, *args)

    assert message in str(caught.value)
    assert not (out_dir / "x.zip").exists()


def test_an_existing_file_is_never_replaced(world, out_dir):
    target = out_dir / "keep.zip"
    target.write_bytes(b"precious")

    with pytest.raises(CommandError, match="already exists"):
        run("--user", "asha", "--format", "json", "--output", str(target))
    assert target.read_bytes() == b"precious"
