"""Message and media-file rows (see ``generator`` for the invariants).

Media files are mostly attachments: exactly ``min(media - media // 10,
messages)`` messages, picked by selection sampling as the messages stream by,
carry one file each (a WAV for a voice message, otherwise an image, PDF or
text note); the rest of the files belong to no message. Voice messages make
up about ``VOICE_SHARE`` of all messages, with a WAV wherever the media count
allows.

The per-message loop is the hot path of seeding: choices are look-ups into
tables built once (kinds by conversation type, (body, metadata) pairs by kind).
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from messaging.seeding import corpus
from messaging.seeding.generator import Context, Conversations
from messaging.seeding.timeline import SECOND

POOL = 1 << 15  # (body, metadata) pairs per message kind
KIND_SLOTS = 10_000
VOICE_SHARE = 0.05
SYSTEM_SHARE = {False: 0.02, True: 0.05}  # by "is a group"
ANONYMOUS_SHARE = {False: 0.0, True: 0.06}
EDITED_SHARE, DELETED_SHARE = 0.04, 0.02
UNEDITABLE = ("system", "voice")
ATTACHMENT_SLOTS = {"image": 700, "document": 200, "text": 100}  # a weighted pool
FILE_NAMES = {
    "image": "IMG-{day}-WA{n:04d}.png",
    "voice": "PTT-{day}-WA{n:04d}.wav",
    "document": "land-record-{n}.pdf",
    "text": "note-{n}.txt",
}


@dataclass
class Attachments:
    """Which messages carry a file, decided as messages are generated."""

    wanted: int  # messages to pick
    voice_share: float  # of picked messages that are voice notes
    unattached_voice: float  # chance that another message is a voice note
    voice: list[int]  # payload indices
    other: list[int]
    picked: list[tuple[int, int, int, int]] = field(default_factory=list)
    # (offset, message id, owner id, payload index), ascending


def plan_attachments(ctx: Context) -> Attachments:
    """Decide how many messages get files, and how many of those are voice."""
    plan = ctx.plan
    wanted = min(plan.media - plan.media // 10, plan.messages)
    voice_target = VOICE_SHARE * plan.messages
    voice_share = min(0.6, voice_target / wanted) if wanted else 0.0
    rest = plan.messages - wanted
    unattached = max(0.0, voice_target - voice_share * wanted) / rest if rest else 0.0
    by_kind: dict[str, list[int]] = {}
    for index, payload in enumerate(ctx.payloads):
        by_kind.setdefault(payload.kind, []).append(index)
    other = [
        by_kind[kind][n % len(by_kind[kind])]
        for kind, slots in ATTACHMENT_SLOTS.items()
        if by_kind.get(kind)
        for n in range(slots)
    ]
    return Attachments(wanted, voice_share, unattached, by_kind.get("voice", []), other)


class MessagePools:
    """Look-up tables that make a message row a handful of indexing operations."""

    def __init__(self, ctx: Context, attachments: Attachments) -> None:
        voice = tuple(ctx.payloads[i].metadata for i in attachments.voice)
        self.content, self.edit_delays = _content(ctx.plan.seed, voice)
        self.kinds = {
            group: _kind_table(group, attachments.unattached_voice)
            for group in (False, True)
        }
        self.ctx, self.attachments = ctx, attachments

    def attach(
        self,
        message: tuple[int, int, int],
        roll: float,
        kind: str,
        group: bool,
        content: tuple[str, str],
    ) -> tuple[str, str, str]:
        """Give ``message`` (offset, id, sender) a payload; return kind, body, JSON."""
        attachments = self.attachments
        share = attachments.voice_share
        voice = roll < share and bool(attachments.voice)
        pool = attachments.voice if voice else attachments.other
        position = roll / share if voice else max(0.0, roll - share) / (1.0 - share)
        payload = pool[min(int(position * len(pool)), len(pool) - 1)]
        attachments.picked.append((*message, payload))
        self.ctx.used_payloads.add(payload)
        if voice:
            return "voice", "", self.ctx.payloads[payload].metadata
        if kind in UNEDITABLE:  # a file needs a sender, and this is no voice note
            kind = "group" if group else "regular"
            content = self.content[kind][int(roll * POOL)]
        return kind, *content


@functools.lru_cache(maxsize=2)
def _content(
    seed: int, voice: tuple[str, ...]
) -> tuple[dict[str, list[tuple[str, str]]], list[int]]:
    """Return (body, metadata) pairs by kind, and edit delays; cached, read-only."""
    rng = random.Random(f"talowa-seed:{seed}:message-pools")
    bodies = corpus.build_bodies(rng, POOL)
    client = corpus.client_metadata(rng, 1024)
    anonymous = corpus.anonymous_metadata()
    system = corpus.system_messages()
    voice = voice or (corpus.dumps({"duration_ms": 4000}),)
    pick = rng.choice
    content = {
        "regular": [(body, pick(client)) for body in bodies],
        "anonymous": [(body, pick(anonymous)) for body in bodies],
        "system": [pick(system) for _ in range(POOL)],
        "voice": [("", pick(voice)) for _ in range(POOL)],
    }
    content["group"] = content["regular"]
    delays = [int(rng.lognormvariate(11.5, 2.0)) + SECOND for _ in range(1024)]
    return content, delays  # delays in milliseconds: a second to a few days


def _kind_table(group: bool, voice: float) -> list[str]:
    """Return ``KIND_SLOTS`` kinds in proportion to their shares."""
    shares = [
        ("system", SYSTEM_SHARE[group]),
        ("anonymous", ANONYMOUS_SHARE[group]),
        ("voice", voice),
    ]
    table = [kind for kind, share in shares for _ in range(round(share * KIND_SLOTS))]
    ordinary = "group" if group else "regular"
    return (table + [ordinary] * KIND_SLOTS)[:KIND_SLOTS]


def message_rows(
    ctx: Context, shape: Conversations, attachments: Attachments
) -> Iterator[tuple]:
    """Yield messages in time order; record the ones that carry a file."""
    if not ctx.plan.messages:
        return
    rng = ctx.rng("messages")
    random_, fmt, end = rng.random, ctx.timeline.format, ctx.timeline.end
    pools = MessagePools(ctx, attachments)
    kinds, content, delays = pools.kinds, pools.content, pools.edit_delays
    created, is_group = shape.created, shape.is_group
    members, joined = shape.members, shape.joined
    bag, bag_end, count, k = shape.bag, shape.bag_end, len(created), 0
    total, left_to_pick = ctx.plan.messages, attachments.wanted
    first = created[0] + 1  # squeeze the stream in after the first conversation
    scale = (end - first) / end
    for number, when in enumerate(ctx.timeline.growing(rng, total), 1):
        when = first + int(when * scale)
        while k < count and created[k] < when:
            k += 1
        index = bag[int(random_() * bag_end[k - 1])]
        people = members[index]
        seat = int(random_() * len(people))
        sender = people[seat] if joined[index][seat] < when else people[0]
        kind = kinds[is_group[index]][int(random_() * KIND_SLOTS)]
        body, metadata = content[kind][int(random_() * POOL)]
        if left_to_pick and random_() * (total - number + 1) < left_to_pick:
            left_to_pick -= 1
            kind, body, metadata = pools.attach(
                (when, number, sender),
                random_(),
                kind,
                is_group[index],
                (body, metadata),
            )
        flags, text = random_(), fmt(when)
        edited = deleted = False
        updated = text
        if flags < EDITED_SHARE + DELETED_SHARE:
            edited = flags < EDITED_SHARE and kind not in UNEDITABLE
            deleted = not edited
            updated = fmt(min(end, when + delays[int(flags * 25_600) % 1024]))
        sender = None if kind == "system" else sender
        row = (number, index + 1, sender, kind, body, metadata, edited, deleted)
        yield (*row, text, updated)


def media_rows(ctx: Context, attachments: Attachments) -> Iterator[tuple]:
    """Yield media files in time order: the attachments and the loose files."""
    rng = ctx.rng("media")
    loose_count = ctx.plan.media - len(attachments.picked)
    pool, users = len(ctx.payloads), ctx.user_ids
    loose = (
        (when, None, users[int(rng.random() * len(users))], int(rng.random() * pool))
        for when in ctx.timeline.growing(rng, loose_count)
    )
    fmt, day_text = ctx.timeline.format, ctx.timeline.day_text
    merged = heapq.merge(attachments.picked, loose, key=lambda row: row[0])
    for number, (when, message, owner, index) in enumerate(merged, 1):
        payload = ctx.payloads[index]
        ctx.used_payloads.add(index)
        name = FILE_NAMES[payload.kind].format(day=day_text(when), n=number % 10_000)
        text = fmt(when)
        yield (
            number,
            owner,
            message,
            name,
            payload.content_type,
            len(payload.data),
            payload.sha256,
            payload.storage_name,
            text,
            text,
        )
