"""import_export: a user's export into another deployment, idempotently."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.backups.conftest import TELUGU
from tests.recovery.conftest import Scratch, table_state

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deployment(tmp_path, data_dir):
    """Another deployment: its own database and data directory (media, keys)."""
    other = tmp_path / "other-deployment"
    other.mkdir()
    made = Scratch(tmp_path, other)
    yield made
    made.drop()


IDS = {"id", "conversation_id", "message_id", "updated_at", "path"}


def export(user: str, fmt: str, path) -> None:
    call_command(
        "export_data",
        "--user",
        user,
        "--format",
        fmt,
        "--output",
        str(path),
        stdout=StringIO(),
    )


def rows_of(path) -> dict[str, list]:
    """Every row of a JSON or NDJSON export, without ids, sorted."""
    archive = zipfile.ZipFile(path)
    found: dict[str, list] = {}
    if "export.json" in archive.namelist():
        document = json.loads(archive.read("export.json"))
        for data_type in document["data_types"]:
            found[data_type] = document[data_type]
    else:
        for line in archive.read("export.ndjson").splitlines():
            record = json.loads(line)
            if record["type"] not in {"export", "metadata"}:
                found.setdefault(record["type"], []).append(record["data"])
    return {
        t: sorted(
            json.dumps(
                {k: v for k, v in r.items() if k not in IDS},
                sort_keys=True,
                ensure_ascii=False,
            )
            for r in rows
        )
        for t, rows in found.items()
    }


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_an_export_imported_into_an_empty_deployment_equals_the_source(
    world, deployment, tmp_path, fmt
):
    source = tmp_path / f"asha.{fmt}.zip"
    export("asha", fmt, source)
    url = deployment.url("sqlite", migrated=True)

    first = json.loads(
        deployment.manage(
            url, "import_export", str(source), "--user", "asha", "--json"
        ).stdout
    )
    assert first["equal"] and first["user_created"]
    assert first["added"] == {
        "messages": 2,
        "conversations": 2,
        "call_history": 1,
        "media_files": 1,
    }
    assert first["placeholder_accounts"] == ["ravi"]
    imported = deployment.state(url)
    again = tmp_path / f"again.{fmt}.zip"
    deployment.manage(
        url, "export_data", "--user", "asha", "--format", fmt, "--output", str(again)
    )
    assert rows_of(again) == rows_of(source)
    assert TELUGU in json.dumps(rows_of(again), ensure_ascii=False)
    media = [n for n in zipfile.ZipFile(again).namelist() if n.startswith("media/")]
    original = zipfile.ZipFile(source)
    assert [zipfile.ZipFile(again).read(n) for n in media] == [
        original.read(n) for n in original.namelist() if n.startswith("media/")
    ]

    second = json.loads(
        deployment.manage(
            url, "import_export", str(source), "--user", "asha", "--json"
        ).stdout
    )
    assert set(second["added"].values()) == {0}
    assert second["checksums"]["after"] == second["checksums"]["before"]
    assert second["checksums"]["after"] == first["checksums"]["after"]
    assert deployment.state(url) == imported


def test_importing_twice_changes_nothing_here(world, tmp_path, django_user_model):
    source = tmp_path / "asha.zip"
    export("asha", "ndjson", source)
    out = StringIO()
    call_command("import_export", str(source), "--user", "asha2", "--json", stdout=out)
    first = json.loads(out.getvalue())
    assert first["equal"] and first["placeholder_accounts"] == []
    state = table_state()
    call_command("import_export", str(source), "--user", "asha2", stdout=StringIO())
    assert table_state() == state


def test_a_dry_run_writes_nothing(world, tmp_path):
    source = tmp_path / "asha.zip"
    export("asha", "json", source)
    state = table_state()
    out = StringIO()
    call_command(
        "import_export",
        str(source),
        "--user",
        "newcomer",
        "--dry-run",
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    assert result["status"] == "dry_run" and result["added"]["messages"] == 2
    assert table_state() == state


@pytest.mark.parametrize(
    "damage", ["flip", "truncate", "csv"], ids=["flipped", "cut", "csv"]
)
def test_a_damaged_export_is_refused_in_one_line(world, tmp_path, damage):
    source = tmp_path / "asha.zip"
    export("asha", "csv" if damage == "csv" else "json", source)
    data = bytearray(source.read_bytes())
    if damage == "flip":  # a byte of export.json's compressed data
        at = zipfile.ZipFile(source).getinfo("export.json").header_offset
        name, extra = (
            int.from_bytes(data[at + o : at + o + 2], "little") for o in (26, 28)
        )
        data[at + 30 + name + extra + 5] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    source.write_bytes(bytes(data))
    with pytest.raises(CommandError) as refused:
        call_command("import_export", str(source), "--user", "asha", stdout=StringIO())
    reason = str(refused.value)
    assert "\n" not in reason and str(source) in reason
    assert ("cannot be imported" in reason) == (damage == "csv")


def test_the_command_says_why_in_one_line_without_a_traceback(
    world, deployment, tmp_path
):
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    url = deployment.url("sqlite")
    done = deployment.manage(
        url, "import_export", str(damaged), "--user", "asha", check=False
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "not a readable export" in done.stderr
