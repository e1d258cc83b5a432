"""The ``html`` format: an offline viewer, like Telegram Desktop's export.

``index.html`` (counts and links), ``conversations.html``,
``messages/<conversation>.html`` (then ``-2``, ``-3``, ... every
``PAGE_SIZE`` messages), ``calls.html``, ``media.html``, ``about.html`` (with
metadata) and the files under ``media/``. Pages load nothing from the network:
styles are inline, links are relative, a Content-Security-Policy forbids the
rest.

Invariants: page frames come from templates (``templates/exports/viewer/``),
split at ``<!--talowa:rows-->``; the rows between are streamed, escaped with
``html.escape``. Only small per-conversation summaries are kept in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string

from backups.exports.container import ExportArchive, Member
from backups.exports.context import ExportContext
from backups.exports.media import media_path
from backups.exports.source import conversation_titles, iso

PAGE_SIZE = 1000
SLOT = "<!--talowa:rows-->"
TEMPLATES = "exports/viewer/"
LABELS = {
    "messages": "Messages you sent",
    "conversations": "Conversations you are in",
    "call_history": "Calls you made or received",
    "media_files": "Media files you shared",
}
# What a whole-conversations export holds instead (docs/export-format.md).
CONVERSATION_LABELS = {
    **LABELS,
    "messages": "Messages in your conversations",
    "media_files": "Media files you shared or saw in your conversations",
}
# Shown where a message has no sender to name.
NO_SENDER = {"system": "TALOWA", "anonymous": "Anonymous"}


def shown(stamp: str | None) -> str:
    """Return an ISO 8601 UTC time as ``2026-11-26 07:20:38 UTC``."""
    return f"{stamp[:10]} {stamp[11:19]} UTC" if stamp else ""


def time_tag(stamp: str | None) -> str:
    if not stamp:
        return ""
    return f'<time datetime="{escape(stamp)}">{shown(stamp)}</time>'


def href(path: str) -> str:
    return escape(quote(path), quote=True)


def conversation_title(conversation_id: int, kind: str, title: str) -> str:
    return title or f"{kind.capitalize()} conversation {conversation_id}"


def page_name(conversation_id: int, number: int) -> str:
    suffix = "" if number == 1 else f"-{number}"
    return f"{conversation_id}{suffix}.html"


def page_path(conversation_id: int, number: int) -> str:
    return f"messages/{page_name(conversation_id, number)}"


@dataclass
class Summary:
    """What the conversations page says about one conversation's messages."""

    kind: str
    title: str
    count: int = 0
    first: str | None = None
    last: str | None = None


@dataclass
class Page:
    member: Member
    conversation_id: int
    number: int
    count: int = 0


def write(archive: ExportArchive, context: ExportContext) -> None:
    """Write the viewer's pages."""
    HtmlViewer(archive, context).write()


class HtmlViewer:
    """Write the viewer's pages, messages first and the index last."""

    def __init__(self, archive: ExportArchive, context: ExportContext) -> None:
        self.archive = archive
        self.context = context
        self.source = context.source
        self.summaries: dict[int, Summary] = {}
        self.missing = set(context.missing_media)
        self.whole = context.scope == "conversations"
        self.frame = {
            "whole_conversations": self.whole,
            "username": context.username,
            "exported": shown(iso(context.exported_at)),
            "root": "",
        }

    def write(self) -> None:
        types = self.context.data_types
        if "messages" in types:
            self.write_message_pages()
        if "messages" in types or "conversations" in types:
            self.write_conversations()
        if "call_history" in types:
            self.write_calls()
        if "media_files" in types:
            self.write_media()
        if self.context.include_metadata:
            self.write_page("about.html", {"metadata": self.context.metadata()})
        self.write_index()

    # --- Frames -----------------------------------------------------------
    def render(self, template: str, extra: dict[str, Any]) -> list[str]:
        html = render_to_string(TEMPLATES + template, {**self.frame, **extra})
        return html.split(SLOT)

    def write_page(
        self, path: str, extra: dict[str, Any], *rows: Iterable[str]
    ) -> None:
        """Write a page whose slots are filled, in order, by ``rows``."""
        parts = self.render(path, extra)
        with self.archive.member(path) as out:
            for part, slot in itertools.zip_longest(parts, rows, fillvalue=()):
                out.write_text(part or "")
                for row in slot:
                    out.write_text(row)

    # --- Messages ---------------------------------------------------------
    def write_message_pages(self) -> None:
        columns = self.source.columns("messages")
        at = {name: i for i, name in enumerate(columns)}
        files = (
            Attachments(self.source.attachments())
            if "media_files" in self.context.data_types
            else None
        )
        page: Page | None = None
        for row in self.source.rows("messages"):
            conversation_id = row[at["conversation_id"]]
            same = page is not None and page.conversation_id == conversation_id
            if page is None or not same or page.count == PAGE_SIZE:
                number = page.number + 1 if page is not None and same else 1
                if page is not None:
                    self._close_page(page, has_next=same)
                page = self._open_page(conversation_id, number)
            key = (conversation_id, row[at["created_at"]], row[at["id"]])
            media = files.of(key) if files is not None else []
            page.member.write_text(self._message(row, at, media))
            page.count += 1
            self._summarise(conversation_id, row[at["created_at"]])
        if page is not None:
            self._close_page(page, has_next=False)

    def _learn_title(self, conversation_id: int) -> None:
        if conversation_id not in self.summaries:
            found = conversation_titles([conversation_id])
            kind, title = found.get(conversation_id, ("deleted", ""))
            self.summaries[conversation_id] = Summary(kind, title)

    def _summarise(self, conversation_id: int, created_at: str) -> None:
        summary = self.summaries[conversation_id]
        summary.count += 1
        summary.first = summary.first or created_at
        summary.last = created_at

    def _page_frame(self, conversation_id: int, number: int, has_next: bool) -> dict:
        summary = self.summaries[conversation_id]
        return {
            "root": "../",
            "conversation_id": conversation_id,
            "kind": summary.kind.capitalize(),
            "title": conversation_title(conversation_id, summary.kind, summary.title),
            "number": number,
            "previous": page_name(conversation_id, number - 1) if number > 1 else "",
            "next": page_name(conversation_id, number + 1) if has_next else "",
        }

    def _open_page(self, conversation_id: int, number: int) -> Page:
        self._learn_title(conversation_id)
        head = self.render(
            "messages.html", self._page_frame(conversation_id, number, False)
        )[0]
        member = self.archive.open_member(page_path(conversation_id, number))
        member.write_text(head)
        return Page(member, conversation_id, number)

    def _close_page(self, page: Page, *, has_next: bool) -> None:
        frame = self._page_frame(page.conversation_id, page.number, has_next)
        page.member.write_text(self.render("messages.html", frame)[1])
        self.archive.close_member(page.member)

    def _message(self, row: list, at: dict[str, int], media: list[tuple]) -> str:
        message_id, kind = row[at["id"]], row[at["kind"]]
        sender = row[at["sender"]] or NO_SENDER.get(kind, "Unknown")
        flags = [
            name
            for name, column in (("edited", "is_edited"), ("deleted", "is_deleted"))
            if row[at[column]]
        ]
        classes = " ".join(["message", *(["deleted"] if "deleted" in flags else [])])
        parts = [
            f'<article class="{classes}" id="message-{message_id}" '
            f'data-id="{message_id}" data-kind="{escape(kind)}">',
            f'<div class="meta"><span class="sender">{escape(sender)}'
            f"</span> {time_tag(row[at['created_at']])}"
            f' <span class="kind">{escape(kind)}</span>',
            *(f' <span class="flag">{flag}</span>' for flag in flags),
            "</div>",
            f'<div class="body">{escape(row[at["body"]], quote=False)}</div>',
        ]
        if media:
            parts.append('<ul class="attachments">')
            parts += [self._media_link(*item, root="../") for item in media]
            parts.append("</ul>")
        parts.append("</article>\n")
        return "".join(parts)

    def _media_link(
        self, media_id: int, name: str, content_type: str, *, root: str = ""
    ) -> str:
        if media_id in self.missing:
            return f'<li class="missing">{escape(name)} (missing from storage)</li>'
        target = href(root + media_path(media_id, name))
        preview = ""
        if content_type.startswith("image/"):
            preview = f'<img src="{target}" alt="" loading="lazy">'
        elif content_type.startswith("audio/"):
            preview = f'<audio controls preload="none" src="{target}"></audio>'
        return (
            f'<li data-media="{media_id}">{preview}'
            f'<a href="{target}">{escape(name)}</a></li>'
        )

    # --- Conversations, calls, media, index -------------------------------
    def write_conversations(self) -> None:
        has_conversations = "conversations" in self.context.data_types
        listed: set[int] = set()
        extra = {
            "has_conversations": has_conversations,
            "has_messages": "messages" in self.context.data_types,
        }
        slots: list[Iterable[str]] = []
        if has_conversations:
            slots.append(self._conversation_rows(listed, extra["has_messages"]))
        if extra["has_messages"]:
            heading = (
                "Your messages in conversations you have left"
                if has_conversations
                else "Messages by conversation"
                if self.whole
                else "Your messages by conversation"
            )
            slots.append(self._left_conversation_rows(listed, heading))
        self.write_page("conversations.html", extra, *slots)

    def _conversation_rows(self, listed: set[int], has_messages: bool) -> Iterator[str]:
        columns = self.source.columns("conversations")
        at = {name: i for i, name in enumerate(columns)}
        for row in self.source.rows("conversations"):
            conversation_id, kind = row[at["id"]], row[at["kind"]]
            listed.add(conversation_id)
            title = escape(conversation_title(conversation_id, kind, row[at["title"]]))
            summary = self.summaries.get(conversation_id)
            if summary:
                title = f'<a href="{href(page_path(conversation_id, 1))}">{title}</a>'
            count = (
                f'<td class="number">{summary.count if summary else 0}</td>'
                if has_messages
                else ""
            )
            yield (
                f'<tr data-id="{conversation_id}"><td class="title">{title}</td>'
                f'<td class="kind">{escape(kind)}</td>'
                f'<td class="role">{escape(row[at["role"]])}</td>'
                f"<td>{time_tag(row[at['joined_at']])}</td>{count}</tr>\n"
            )

    def _left_conversation_rows(self, listed: set[int], heading: str) -> Iterator[str]:
        """Yield a table of the message pages not linked from the list above."""
        rows = (item for item in self.summaries.items() if item[0] not in listed)
        first = next(rows, None)
        if first is None:
            return
        yield (
            f"<h2>{escape(heading)}</h2>\n"
            '<table class="message-pages"><thead><tr><th scope="col">Conversation'
            '</th><th scope="col">Kind</th><th scope="col">First</th>'
            '<th scope="col">Last</th><th scope="col" class="number">'
            f"{'Messages' if self.whole else 'Your messages'}</th></tr></thead>\n"
            "<tbody>\n"
        )
        for conversation_id, summary in itertools.chain([first], rows):
            title = escape(
                conversation_title(conversation_id, summary.kind, summary.title)
            )
            link = href(page_path(conversation_id, 1))
            yield (
                f'<tr data-id="{conversation_id}"><td class="title">'
                f'<a href="{link}">{title}</a></td>'
                f'<td class="kind">{escape(summary.kind)}</td>'
                f"<td>{time_tag(summary.first)}</td><td>{time_tag(summary.last)}</td>"
                f'<td class="number">{summary.count}</td></tr>\n'
            )
        yield "</tbody>\n</table>\n"

    def write_calls(self) -> None:
        columns = self.source.columns("call_history")
        at = {name: i for i, name in enumerate(columns)}

        def rows() -> Iterator[str]:
            for row in self.source.rows("call_history"):
                seconds = row[at["duration_seconds"]]
                cells = "".join(
                    f'<td class="{name}">{escape(str(row[at[name]]))}</td>'
                    for name in ("direction", "caller", "callee", "media", "status")
                )
                yield (
                    f'<tr data-id="{row[at["id"]]}">{cells}'
                    f"<td>{time_tag(row[at['started_at']])}</td>"
                    f'<td class="number duration" data-seconds="{seconds}">'
                    f"{seconds // 60}:{seconds % 60:02d}</td></tr>\n"
                )

        self.write_page("calls.html", {}, rows())

    def write_media(self) -> None:
        columns = self.source.columns("media_files")
        at = {name: i for i, name in enumerate(columns)}

        def rows() -> Iterator[str]:
            for row in self.source.rows("media_files"):
                link = self._media_link(
                    row[at["id"]], row[at["name"]], row[at["content_type"]]
                )
                details = (
                    f' <span class="muted">{escape(row[at["content_type"]])}, '
                    f"{filesizeformat(row[at['size']])}, "
                    f"{time_tag(row[at['created_at']])}</span></li>\n"
                )
                yield link.removesuffix("</li>") + details

        self.write_page("media.html", {}, rows())

    def write_index(self) -> None:
        counts = self.source.counts
        pages = {
            "messages": "conversations.html",
            "conversations": "conversations.html",
            "call_history": "calls.html",
            "media_files": "media.html",
        }
        sections = [
            {
                "name": name,
                "label": (CONVERSATION_LABELS if self.whole else LABELS)[name],
                "count": counts[name],
                "href": pages[name],
            }
            for name in self.context.data_types
        ]
        user = self.context.user
        self.write_page(
            "index.html",
            {
                "user": user,
                "joined": shown(user["date_joined"]),
                "exported_iso": iso(self.context.exported_at),
                "sections": sections,
                "include_metadata": self.context.include_metadata,
            },
        )


class Attachments:
    """Media attached to messages, walked in step with the messages.

    Both streams are sorted by (conversation, message time, message id), so
    each message's files are the next ones in line; files whose message
    vanished mid-export are skipped.
    """

    def __init__(self, rows: Iterator[list]) -> None:
        self.rows = rows
        self.next = next(rows, None)

    def of(self, key: tuple) -> list[tuple]:
        """Return ``(media id, name, content type)`` of the message at ``key``."""
        found = []
        while self.next is not None and tuple(self.next[:3]) <= key:
            if tuple(self.next[:3]) == key:
                found.append(tuple(self.next[3:]))
            self.next = next(self.rows, None)
        return found
