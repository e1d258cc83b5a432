"""Deterministic rows for the messaging tables, in an order that satisfies FKs.

Invariants, relied on by the writers and the tests:
- the same plan (seed, anchor, counts) and the same user ids give the same
  rows, whatever the database engine: every random choice comes from a
  ``random.Random`` seeded with the seed and the table's name;
- ids start at 1 and rows come in id order, parents before children
  (conversations, participants, messages, calls, media files);
- every row satisfies the models' check constraints, ``created_at <=
  updated_at``, and a sender or caller had joined the conversation before
  the message or call.

Rows are tuples of ``int``, ``str``, ``bool`` or ``None`` (NULL), timestamps
already as text (``Timeline.format``), JSON as text, in ``Table.columns`` order.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from messaging.seeding.corpus import build_titles
from messaging.seeding.media import Payload
from messaging.seeding.plan import SeedPlan
from messaging.seeding.timeline import SECOND, Timeline

BATCH_SIZE = 10_000
GROUP_SHARE = 0.3  # of conversations, when there are 3 users or more
MAX_GROUP = 50
CALL_STATUSES = ("completed",) * 60 + ("missed",) * 28 + ("rejected",) * 12
CALL_MEDIA = ("voice",) * 3 + ("video",)
RING_SECONDS = {"missed": 30, "rejected": 6}


@dataclass(frozen=True)
class Table:
    """A table's name, the columns its rows fill, and which hold free text."""

    name: str
    columns: tuple[str, ...]
    text_columns: tuple[str, ...] = ()  # may hold tabs, newlines, backslashes
    nullable_columns: tuple[str, ...] = ()  # may hold None


CONVERSATIONS = Table(
    "messaging_conversation",
    ("id", "kind", "title", "created_by_id", "created_at", "updated_at"),
    text_columns=("title",),
    nullable_columns=("created_by_id",),
)
PARTICIPANTS = Table(
    "messaging_participant",
    (
        "id",
        "conversation_id",
        "user_id",
        "role",
        "joined_at",
        "created_at",
        "updated_at",
    ),
)
MESSAGES = Table(
    "messaging_message",
    (
        "id",
        "conversation_id",
        "sender_id",
        "kind",
        "body",
        "metadata",
        "is_edited",
        "is_deleted",
        "created_at",
        "updated_at",
    ),
    text_columns=("body", "metadata"),
    nullable_columns=("sender_id",),
)
CALLS = Table(
    "messaging_callrecord",
    (
        "id",
        "caller_id",
        "callee_id",
        "conversation_id",
        "media",
        "status",
        "started_at",
        "duration_seconds",
        "created_at",
        "updated_at",
    ),
    nullable_columns=("conversation_id",),
)
MEDIA_FILES = Table(
    "messaging_mediafile",
    (
        "id",
        "owner_id",
        "message_id",
        "name",
        "content_type",
        "size",
        "sha256",
        "file",
        "created_at",
        "updated_at",
    ),
    text_columns=("name",),
    nullable_columns=("message_id",),
)
TABLES = (CONVERSATIONS, PARTICIPANTS, MESSAGES, CALLS, MEDIA_FILES)


@dataclass
class Context:
    """What every table's generation shares."""

    plan: SeedPlan
    user_ids: list[int]  # database ids of the seed users, by user number
    timeline: Timeline
    payloads: tuple[Payload, ...]
    used_payloads: set[int] = field(default_factory=set)

    def rng(self, table: str) -> random.Random:
        return random.Random(f"talowa-seed:{self.plan.seed}:{table}")


@dataclass
class Conversations:
    """The conversations' shape, kept in memory for messages and calls.

    Index ``i`` is the conversation with id ``i + 1``; ``created`` ascends.
    ``bag`` lists conversation indices as often as they are active, in index
    order, and ``bag_end[i]`` is the length of its part for indices <= i, so a
    weighted pick among the first ``k`` conversations is one look-up.
    """

    created: list[int] = field(default_factory=list)
    is_group: list[bool] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)  # user ids
    joined: list[tuple[int, ...]] = field(default_factory=list)  # offsets
    bag: array = field(default_factory=lambda: array("I"))
    bag_end: array = field(default_factory=lambda: array("Q"))

    def add(
        self,
        created: int,
        members: tuple[int, ...],
        joined: tuple[int, ...],
        *,
        group: bool,
        weight: int,
    ) -> None:
        self.bag.extend([len(self.created)] * weight)
        self.bag_end.append(len(self.bag))
        self.created.append(created)
        self.is_group.append(group)
        self.members.append(members)
        self.joined.append(joined)


def batched(rows: Iterator[tuple], size: int = BATCH_SIZE) -> Iterator[list[tuple]]:
    """Group ``rows`` into lists of at most ``size``."""
    while batch := list(islice(rows, size)):
        yield batch


def build_conversations(ctx: Context) -> Conversations:
    """Decide every conversation's creation time, members and activity."""
    rng = ctx.rng("conversations")
    random_, users, ids = rng.random, len(ctx.user_ids), ctx.user_ids
    timeline, shape, pairs = ctx.timeline, Conversations(), set()
    for created in timeline.early(rng, ctx.plan.conversations):
        weight = min(200, int((1.0 - random_()) ** -0.8))
        if users >= 3 and random_() < GROUP_SHARE:
            size = min(users, 3 + int((MAX_GROUP - 2) * random_() ** 3))
            members = tuple(ids[n] for n in rng.sample(range(users), size))
            joined = (created,) + tuple(
                created if random_() < 0.75 else timeline.after(rng, created)
                for _ in range(size - 1)
            )
            shape.add(
                created, members, joined, group=True, weight=weight * (1 + size // 8)
            )
            continue
        for _ in range(4):  # prefer a pair that has no conversation yet
            first = int(random_() * users)
            second = (first + 1 + int(random_() * (users - 1))) % users
            if (min(first, second), max(first, second)) not in pairs:
                break
        pairs.add((min(first, second), max(first, second)))
        shape.add(
            created,
            (ids[first], ids[second]),
            (created, created),
            group=False,
            weight=weight,
        )
    return shape


def conversation_rows(ctx: Context, shape: Conversations) -> Iterator[tuple]:
    """Yield conversation rows: groups have titles and may be renamed later."""
    rng = ctx.rng("conversation-details")
    titles = build_titles(rng, 512)
    fmt, timeline = ctx.timeline.format, ctx.timeline
    for index, created in enumerate(shape.created):
        text = fmt(created)
        if shape.is_group[index]:
            updated = timeline.after(rng, created) if rng.random() < 0.2 else created
            title = titles[int(rng.random() * len(titles))]
            yield (
                index + 1,
                "group",
                title,
                shape.members[index][0],
                text,
                fmt(updated),
            )
        else:
            yield index + 1, "direct", "", shape.members[index][0], text, text


def participant_rows(ctx: Context, shape: Conversations) -> Iterator[tuple]:
    """Yield participants: a group's creator and some others administer it."""
    rng = ctx.rng("participants")
    fmt, next_id = ctx.timeline.format, 1
    for index, members in enumerate(shape.members):
        group = shape.is_group[index]
        for position, user_id in enumerate(members):
            admin = group and (position == 0 or rng.random() < 0.1)
            joined = fmt(shape.joined[index][position])
            yield (
                next_id,
                index + 1,
                user_id,
                "admin" if admin else "member",
                joined,
                joined,
                joined,
            )
            next_id += 1


def call_rows(ctx: Context, shape: Conversations) -> Iterator[tuple]:
    """Yield call records, mostly between members of a conversation."""
    rng = ctx.rng("calls")
    random_, fmt, end = rng.random, ctx.timeline.format, ctx.timeline.end
    durations = [int(rng.lognormvariate(5.0, 1.1)) + 1 for _ in range(1024)]
    created, count, k = shape.created, len(shape.created), 0
    for number, start in enumerate(ctx.timeline.growing(rng, ctx.plan.calls), 1):
        while k < count and created[k] < start:
            k += 1
        pair = _call_pair(shape, k, start, random_) if random_() < 0.8 else None
        conversation = None
        if pair is None:
            pair = _random_pair(ctx.user_ids, random_)
        else:
            conversation, pair = pair
        status = CALL_STATUSES[int(random_() * 100)]
        duration = durations[int(random_() * 1024)] if status == "completed" else 0
        ended = min(end, start + (duration or RING_SECONDS.get(status, 0)) * SECOND)
        text = fmt(start)
        yield (
            number,
            pair[0],
            pair[1],
            conversation,
            CALL_MEDIA[int(random_() * 4)],
            status,
            text,
            duration,
            text,
            fmt(ended),
        )


def _call_pair(shape: Conversations, k: int, start: int, random_):
    """Return (conversation id, (caller, callee)) of members joined by ``start``."""
    if not k:
        return None
    index = shape.bag[int(random_() * shape.bag_end[k - 1])]
    members, joined = shape.members[index], shape.joined[index]
    caller = int(random_() * len(members))
    callee = int(random_() * len(members))
    if joined[caller] >= start:
        caller = 0
    if callee == caller or joined[callee] >= start:
        callee = 1 if caller == 0 else 0
    if joined[callee] >= start:
        return None
    return index + 1, (members[caller], members[callee])


def _random_pair(user_ids: list[int], random_) -> tuple[int, int]:
    users = len(user_ids)
    first = int(random_() * users)
    second = (first + 1 + int(random_() * (users - 1))) % users
    return user_ids[first], user_ids[second]
