"""Every export format, parsed back with the standard library, equals the database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from backups.exports import ExportRefused, check_choices, html_format, write_export
from backups.exports.csv_format import restore
from backups.exports.media import media_path
from backups.exports.source import COMPUTED, NOT_EXPORTED, SPECS
from messaging.models import CallRecord, Conversation, MediaFile, Message, Participant
from tests.backups.conftest import HINDI, SECRET_BODY, TELUGU, add_media

pytestmark = pytest.mark.django_db

FORMATS = ("json", "csv", "ndjson", "html")
EMOJI = "Namaste 🙏🏽 family 👨‍👩‍👧 done ✅ flag 🇮🇳"
TRICKY = (
    '=HYPERLINK("http://evil.example","click")',
    "+91 98480 22338",
    "-5 degrees",
    "@SUM(A1:A9)",
    "'already quoted",
    "\tTab first",
    'line one\nline two, "quoted", with comma\r\nline three',
    "<script>alert('x')</script> & <b>bold</b> &amp; entity",
    "",
)
# Text fields whose empty CSV cell is null: no path, no sender to name.
NULL_TEXT = {"path", "sender"}
TIMES = {"created_at", "updated_at", "joined_at", "started_at"}
KINDS = {
    "id": "int",
    "conversation_id": "int",
    "message_id": "int",
    "size": "int",
    "duration_seconds": "int",
    "is_edited": "bool",
    "is_deleted": "bool",
    "metadata": "json",
    **dict.fromkeys(TIMES, "time"),
}
PDF_BYTES = b"%PDF-1.4\n" + "భూమి పత్రం".encode() + b"\n%%EOF\n"


@pytest.fixture
def export_world(world):
    """``world`` plus messages, calls and media of asha's that are hard to carry."""
    asha, ravi = world.asha, world.ravi
    for n, body in enumerate((EMOJI, HINDI, *TRICKY)):
        Message.objects.create(
            conversation=world.direct,
            sender=asha,
            kind="regular",
            body=body,
            is_edited=n == 1,
            is_deleted=n == 2,
            metadata={"client": "android", "लेबल": "✓ ok"} if n == 0 else {},
        )
    CallRecord.objects.create(
        caller=ravi,
        callee=asha,
        status="missed",
        started_at=timezone.now() - timedelta(minutes=5),
    )
    add_media(
        asha, PDF_BYTES, name="భూమి పత్రం: final/v2.pdf", content_type="application/pdf"
    )
    return world


def export(user, export_format: str, **options: Any) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    write_export(buffer, user=user, export_format=export_format, **options)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


# --- The database, read independently of the exporter ----------------------
def expected(user, *, include_metadata: bool = True) -> dict[str, list[dict]]:
    """Return what an export of ``user`` must hold, straight from the models."""
    messages = [
        {
            "id": m.id,
            "conversation_id": m.conversation_id,
            "sender": user.username,
            "kind": m.kind,
            "body": m.body,
            "is_edited": m.is_edited,
            "is_deleted": m.is_deleted,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "metadata": m.metadata,
        }
        for m in Message.objects.filter(sender=user).order_by(
            "conversation_id", "created_at", "id"
        )
    ]
    conversations = [
        {
            "id": p.conversation_id,
            "kind": p.conversation.kind,
            "title": p.conversation.title,
            "role": p.role,
            "joined_at": p.joined_at,
            "created_at": p.conversation.created_at,
            "updated_at": p.conversation.updated_at,
        }
        for p in Participant.objects.filter(user=user).order_by("conversation_id")
    ]
    calls = [
        {
            "id": c.id,
            "direction": "outgoing" if c.caller_id == user.id else "incoming",
            "caller": c.caller.username,
            "callee": c.callee.username,
            "conversation_id": c.conversation_id,
            "media": c.media,
            "status": c.status,
            "started_at": c.started_at,
            "duration_seconds": c.duration_seconds,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }
        for c in CallRecord.objects.filter(caller=user)
        .union(CallRecord.objects.filter(callee=user))
        .order_by("started_at", "id")
    ]
    media = [
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
        for f in MediaFile.objects.filter(owner=user).order_by("id")
    ]
    rows = {
        "messages": messages,
        "conversations": conversations,
        "call_history": calls,
        "media_files": media,
    }
    if not include_metadata:
        for name, records in rows.items():
            for record in records:
                record.pop("updated_at")
                if name == "messages":
                    record.pop("metadata")
    return rows


def typed(record: dict[str, Any]) -> dict[str, Any]:
    """Turn a parsed record's ISO 8601 times back into datetimes."""
    return {
        key: datetime.fromisoformat(value) if key in TIMES and value else value
        for key, value in record.items()
    }


def from_csv_cell(column: str, cell: str) -> Any:
    kind = KINDS.get(column, "text")
    if kind == "text":
        return restore(cell) if cell else (None if column in NULL_TEXT else "")
    if cell == "":
        return None
    return {
        "int": int,
        "bool": lambda c: c == "true",
        "json": lambda c: json.loads(restore(c)),
        "time": datetime.fromisoformat,
    }[kind](cell)


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    with archive.open(name) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        header, *rows = list(csv.reader(text, strict=True))
    return [
        {
            name: from_csv_cell(name, cell)
            for name, cell in zip(header, row, strict=True)
        }
        for row in rows
    ]


def parsed_records(archive: zipfile.ZipFile, export_format: str) -> dict[str, list]:
    """Parse an archive's data files back into records per data type."""
    if export_format == "json":
        document = json.loads(archive.read("export.json"))
        return {
            name: [typed(r) for r in document[name]] for name in document["data_types"]
        }
    if export_format == "ndjson":
        found: dict[str, list] = {}
        for line in archive.read("export.ndjson").decode().splitlines():
            record = json.loads(line)
            if record["type"] not in {"export", "metadata"}:
                found.setdefault(record["type"], []).append(typed(record["data"]))
        return found
    names = [n for n in archive.namelist() if n.endswith(".csv")]
    return {name[:-4]: read_csv(archive, name) for name in names}


# --- A small DOM for the HTML viewer ---------------------------------------
VOID = {"meta", "img", "br", "input", "link", "hr", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [
            n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)
        ]

    def find(self, tag: str, cls: str | None = None) -> Node | None:
        found = self.find_all(tag, cls)
        return found[0] if found else None


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(data: bytes) -> Node:
    builder = TreeBuilder()
    builder.feed(data.decode())
    builder.close()
    return builder.root


def html_messages(archive: zipfile.ZipFile) -> list[dict[str, Any]]:
    found = []
    pages = sorted(n for n in archive.namelist() if n.startswith("messages/"))
    for page in pages:
        for article in parse_html(archive.read(page)).find_all("article", "message"):
            found.append(
                {
                    "id": int(article.attrs["data-id"]),
                    "kind": article.attrs["data-kind"],
                    "sender": article.find("span", "sender").text,
                    "created_at": datetime.fromisoformat(
                        article.find("time").attrs["datetime"]
                    ),
                    "body": article.find("div", "body").text,
                    "is_edited": "edited"
                    in [f.text for f in article.find_all("span", "flag")],
                    "is_deleted": "deleted" in article.classes,
                }
            )
    return sorted(found, key=lambda m: m["id"])


# --- Round trips -----------------------------------------------------------
@pytest.mark.parametrize("export_format", ["json", "csv", "ndjson"])
def test_data_files_parse_back_to_the_database(export_world, export_format):
    archive = export(export_world.asha, export_format)

    assert parsed_records(archive, export_format) == expected(export_world.asha)


@pytest.mark.parametrize("export_format", ["json", "csv", "ndjson"])
def test_without_metadata_the_change_fields_are_left_out(export_world, export_format):
    archive = export(export_world.asha, export_format, include_metadata=False)

    records = parsed_records(archive, export_format)
    assert records == expected(export_world.asha, include_metadata=False)
    names = archive.namelist()
    assert "metadata.json" not in names
    if export_format == "json":
        assert "metadata" not in json.loads(archive.read("export.json"))


def test_json_document_has_the_briefs_shape(export_world):
    document = json.loads(export(export_world.asha, "json").read("export.json"))

    assert list(document)[:4] == ["format_version", "user", "exported_at", "data_types"]
    assert document["messages"] and document["conversations"] is not None
    assert document["user"]["username"] == "asha"
    assert datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    assert document["metadata"]["counts"] == {
        name: len(rows) for name, rows in expected(export_world.asha).items()
    }
    assert document["metadata"]["fields"]["messages"]["body"]["type"] == "text"


def test_html_viewer_parses_back_to_the_database(export_world):
    asha = export_world.asha
    archive = export(asha, "html")
    want = expected(asha)

    assert html_messages(archive) == sorted(
        (
            {
                key: m[key]
                for key in (
                    "id",
                    "kind",
                    "sender",
                    "created_at",
                    "body",
                    "is_edited",
                    "is_deleted",
                )
            }
            for m in want["messages"]
        ),
        key=lambda m: m["id"],
    )
    calls = parse_html(archive.read("calls.html")).find_all("tr")[1:]
    assert [
        {
            "id": int(row.attrs["data-id"]),
            **{
                c: row.find("td", c).text
                for c in ("direction", "caller", "callee", "media", "status")
            },
            "started_at": datetime.fromisoformat(row.find("time").attrs["datetime"]),
            "duration_seconds": int(row.find("td", "duration").attrs["data-seconds"]),
        }
        for row in calls
    ] == [
        {
            k: c[k]
            for k in (
                "id",
                "direction",
                "caller",
                "callee",
                "media",
                "status",
                "started_at",
                "duration_seconds",
            )
        }
        for c in want["call_history"]
    ]
    conversations = parse_html(archive.read("conversations.html"))
    listed = conversations.find("table", "conversations").find_all("tr")[1:]
    assert [int(row.attrs["data-id"]) for row in listed] == [
        c["id"] for c in want["conversations"]
    ]
    assert listed[1].find("td", "title").text == "Village council"
    media = parse_html(archive.read("media.html")).find_all("li")
    assert [
        (int(li.attrs["data-media"]), unquote(li.find("a").attrs["href"]))
        for li in media
    ] == [(m["id"], m["path"]) for m in want["media_files"]]


def test_html_viewer_needs_no_network_and_every_link_resolves(export_world):
    archive = export(export_world.asha, "html")
    names = set(archive.namelist())
    pages = [n for n in names if n.endswith(".html")]

    assert {
        "index.html",
        "conversations.html",
        "calls.html",
        "media.html",
        "about.html",
    } <= set(pages)
    for page in pages:
        html = archive.read(page).decode()
        assert "http://" not in html.replace("http://evil.example", "")
        assert "https://" not in html and "<script" not in html
        assert "Content-Security-Policy" in html
        for node in parse_html(archive.read(page)).iter():
            for attribute in ("href", "src"):
                if attribute not in node.attrs:
                    continue
                url = urlsplit(node.attrs[attribute])
                assert not url.scheme and not url.netloc, (page, node.attrs)
                target = PurePosixPath(page).parent / unquote(url.path)
                resolved = PurePosixPath(*_normalise(target.parts))
                assert str(resolved) in names, (page, node.attrs[attribute])


def _normalise(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part not in {".", ""}:
            out.append(part)
    return out


def test_html_messages_are_paged_with_links_both_ways(export_world, monkeypatch):
    monkeypatch.setattr(html_format, "PAGE_SIZE", 4)
    archive = export(export_world.asha, "html", data_types=["messages"])
    direct = export_world.direct.id
    pages = sorted(n for n in archive.namelist() if n.startswith(f"messages/{direct}"))

    assert pages == [
        f"messages/{direct}-2.html",
        f"messages/{direct}-3.html",
        f"messages/{direct}.html",
    ]
    first = parse_html(archive.read(f"messages/{direct}.html"))
    last = parse_html(archive.read(f"messages/{direct}-3.html"))
    assert [a.attrs["href"] for a in first.find_all("a") if "rel" in a.attrs] == [
        f"{direct}-2.html"
    ]
    assert [a.attrs["href"] for a in last.find_all("a") if "rel" in a.attrs] == [
        f"{direct}-2.html"
    ]
    assert len(html_messages(archive)) == len(expected(export_world.asha)["messages"])


# --- Manifest, media, text ---------------------------------------------------
@pytest.mark.parametrize("export_format", FORMATS)
def test_manifest_lists_every_file_with_its_size_and_checksum(
    export_world, export_format
):
    archive = export(export_world.asha, export_format)
    manifest = json.loads(archive.read("manifest.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}

    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for name, entry in listed.items():
        data = archive.read(name)
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["format"] == export_format
    assert manifest["counts"] == {
        name: len(rows) for name, rows in expected(export_world.asha).items()
    }
    assert manifest["missing_media"] == [] and manifest["mismatched_media"] == []
    assert archive.testzip() is None


@pytest.mark.parametrize("export_format", FORMATS)
def test_media_bytes_travel_under_media_and_match_their_rows(
    export_world, export_format
):
    archive = export(export_world.asha, export_format)

    for row in expected(export_world.asha)["media_files"]:
        data = archive.read(row["path"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert len(data) == row["size"]
    assert (
        archive.read(
            media_path(
                MediaFile.objects.get(name__startswith="భూమి").id,
                "భూమి పత్రం: final/v2.pdf",
            )
        )
        == PDF_BYTES
    )


@pytest.mark.parametrize("export_format", FORMATS)
def test_telugu_hindi_and_emoji_round_trip_exactly(export_world, export_format):
    archive = export(export_world.asha, export_format)
    if export_format == "html":
        bodies = {m["body"] for m in html_messages(archive)}
    else:
        bodies = {m["body"] for m in parsed_records(archive, export_format)["messages"]}

    assert {TELUGU, HINDI, EMOJI, *TRICKY} <= bodies


@pytest.mark.parametrize("export_format", FORMATS)
def test_other_peoples_messages_never_leave(export_world, export_format):
    archive = export(export_world.asha, export_format)

    for name in archive.namelist():
        assert SECRET_BODY.encode() not in archive.read(name), name
        assert "media-canary" not in name


def test_csv_is_rfc_4180_with_a_bom_and_neutralised_formulas(export_world):
    archive = export(export_world.asha, "csv")
    raw = archive.read("messages.csv")

    assert raw.startswith(b"\xef\xbb\xbfid,conversation_id,sender,")
    assert raw.count(b"\r\n") >= len(expected(export_world.asha)["messages"])
    cells = [
        row[4] for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    ]
    for body in TRICKY:
        if body[:1] in {"=", "+", "-", "@", "\t", "'"}:
            assert "'" + body in cells
    assert not any(cell[:1] in {"=", "+", "-", "@"} for cell in cells)
    assert set(archive.namelist()) >= {
        "messages.csv",
        "conversations.csv",
        "call_history.csv",
        "media_files.csv",
        "metadata.json",
    }


def test_ndjson_has_one_typed_record_per_line(export_world):
    lines = export(export_world.asha, "ndjson").read("export.ndjson").splitlines()
    records = [json.loads(line) for line in lines]

    assert records[0]["type"] == "export"
    assert records[-1]["type"] == "metadata"
    assert {r["type"] for r in records[1:-1]} == {
        "messages",
        "conversations",
        "call_history",
        "media_files",
    }
    assert all(set(r) == {"type", "data"} for r in records)


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_selective_export_holds_only_what_was_chosen(export_world, export_format):
    archive = export(
        export_world.asha, export_format, data_types=["conversations", "messages"]
    )
    manifest = json.loads(archive.read("manifest.json"))

    assert manifest["data_types"] == ["messages", "conversations"]
    assert set(manifest["counts"]) == {"messages", "conversations"}
    assert not any(name.startswith("media/") for name in archive.namelist())
    if export_format != "html":
        assert set(parsed_records(archive, export_format)) == {
            "messages",
            "conversations",
        }
    else:
        assert "calls.html" not in archive.namelist()


def test_a_user_with_no_data_gets_a_valid_empty_export(make_user, data_dir):
    loner = make_user("loner")
    for export_format in FORMATS:
        archive = export(loner, export_format)
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["counts"] == dict.fromkeys(
            ["messages", "conversations", "call_history", "media_files"], 0
        )
        if export_format != "html":
            assert all(
                rows == [] for rows in parsed_records(archive, export_format).values()
            )


def test_missing_media_is_reported_not_invented(export_world):
    pdf = MediaFile.objects.get(name__startswith="భూమి")
    storages["media"].delete(pdf.file.name)

    archive = export(export_world.asha, "json")
    document = json.loads(archive.read("export.json"))
    manifest = json.loads(archive.read("manifest.json"))

    assert manifest["missing_media"] == [pdf.id]
    row = next(m for m in document["media_files"] if m["id"] == pdf.id)
    assert row["path"] is None
    assert not any(n.startswith(f"media/{pdf.id}-") for n in archive.namelist())
    viewer = export(export_world.asha, "html")
    assert "missing from storage" in viewer.read("media.html").decode()


def test_media_names_become_safe_archive_paths():
    assert media_path(7, "photo.png") == "media/7-photo.png"
    assert media_path(8, "../../etc/passwd") == "media/8-_.._etc_passwd"
    assert media_path(9, 'a:b*c?"d<e>f|g\\h\x00.txt') == "media/9-a_b_c__d_e_f_g_h_.txt"
    assert media_path(10, "...") == "media/10-file"
    long = media_path(11, "భూమి" * 100 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 140


@pytest.mark.parametrize(
    ("export_format", "data_types", "message"),
    [
        ("xml", None, "unknown export format 'xml'"),
        ("json", ["messages", "contacts"], "unknown data type(s) 'contacts'"),
        ("json", [], "choose at least one data type"),
    ],
)
def test_unknown_choices_are_refused_clearly(export_format, data_types, message):
    with pytest.raises(
        ExportRefused, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        check_choices(export_format, data_types)


def test_conversations_left_still_show_their_messages(export_world):
    asha = export_world.asha
    Participant.objects.filter(user=asha, conversation=export_world.group).delete()
    archive = export(asha, "html")
    page = parse_html(archive.read("conversations.html"))

    left = page.find("table", "message-pages").find_all("tr")[1:]
    assert [int(row.attrs["data-id"]) for row in left] == [export_world.group.id]
    assert Conversation.objects.filter(pk=export_world.group.id).exists()


# --- The documented JSON Schema ----------------------------------------------
DOCS = Path(__file__).resolve().parents[2] / "docs" / "export-format.md"
SCHEMA_ITEMS = {
    "messages": "message",
    "conversations": "conversation",
    "call_history": "call",
    "media_files": "media_file",
}


def documented_schema() -> dict:
    text = DOCS.read_text()
    block = text.split("<!-- export-json-schema -->", 1)[1]
    return json.loads(block.split("```json", 1)[1].split("```", 1)[0])


def test_the_documented_schema_names_every_field(export_world):
    schema = documented_schema()
    for name, spec in SPECS.items():
        item = schema["$defs"][SCHEMA_ITEMS[name]]
        assert set(item["properties"]) == {f.name for f in spec.fields}, name
        assert set(item["required"]) == {
            f.name for f in spec.fields if not f.metadata
        }, name


@pytest.mark.parametrize("include_metadata", [True, False])
def test_json_exports_validate_against_the_documented_schema(
    export_world, include_metadata
):
    jsonschema = pytest.importorskip("jsonschema")
    archive = export(export_world.asha, "json", include_metadata=include_metadata)
    document = json.loads(archive.read("export.json"))

    jsonschema.Draft202012Validator(documented_schema()).validate(document)


# --- Every field of the protected data is exported or left out on purpose ----
BASES = {
    "messages": Message,
    "conversations": Participant,
    "call_history": CallRecord,
    "media_files": MediaFile,
}


def exported_model_fields() -> set[str]:
    """Return ``app.model.field`` for every messaging field an export writes."""
    found = set()
    for name, spec in SPECS.items():
        for lookup in [f.lookup for f in spec.fields]:
            if lookup is None:
                continue  # filled in by the export
            lookup = COMPUTED.get(lookup, lookup)  # what a computed name shows
            model = BASES[name]
            for part in lookup.split("__"):
                field = model._meta.get_field(part.removesuffix("_id"))
                found.add(f"{model._meta.label_lower}.{field.name}")
                if field.is_relation:  # a foreign key exports the row's id
                    model = field.related_model
                    found.add(f"{model._meta.label_lower}.{model._meta.pk.name}")
    return {name for name in found if name.startswith("messaging.")}


def test_every_data_type_has_a_spec():
    assert tuple(SPECS) == ("messages", "conversations", "call_history", "media_files")


def test_every_messaging_field_is_exported_or_excluded_with_a_reason():
    everything = {
        f"{model._meta.label_lower}.{field.name}"
        for model in (Conversation, Participant, Message, CallRecord, MediaFile)
        for field in model._meta.concrete_fields
    }
    exported = exported_model_fields()

    assert everything - exported == set(NOT_EXPORTED)
    assert not exported & set(NOT_EXPORTED)
