"""Find the rows of a retention type that are past their period, key by key.

Candidates are read in ``(age, id)`` order with key-based paging, below the
earliest cutoff any row of the type can have; each is then resolved against
the policy table (holds, preferences, legal bounds). Nothing here writes, so
a dry run and a real run walk exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import F, Q

from messaging.models import CallRecord, MediaFile, Message
from retention.services.policies import PolicyTable
from retention.types import CALL, MESSAGE, TYPE_RULES

# Rows per batch: BATCH_SIZE to start with, then sized so that one batch's
# transaction takes about TARGET_BATCH_SECONDS on this machine under its
# current load, within MIN_BATCH_SIZE..MAX_BATCH_SIZE.
BATCH_SIZE = 2000
MIN_BATCH_SIZE = 100
MAX_BATCH_SIZE = 20000
TARGET_BATCH_SECONDS = 0.3


class BatchSizer:
    """The rows per batch, adapted to how long the last full batch took."""

    def __init__(self) -> None:
        self.size = BATCH_SIZE

    def observe(self, rows: int, seconds: float) -> None:
        if rows < self.size or seconds <= 0:
            return  # a short batch says little about the rate
        wanted = int(rows / seconds * TARGET_BATCH_SECONDS)
        # Grow at most twofold at a time, shrink at once.
        wanted = min(wanted, self.size * 2)
        self.size = max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, wanted))


@dataclass(frozen=True)
class Scope:
    """Rows of one user (as party) or one conversation; None fields: everything."""

    user_id: int | None = None
    conversation_id: int | None = None


def _queryset(rtype: str, scope: Scope):
    rule = TYPE_RULES[rtype]
    if rule.table == MESSAGE:
        qs = Message.objects.filter(kind__in=rule.values).values_list(
            "id", "created_at", "sender_id", "conversation_id"
        )
        if scope.user_id is not None:
            qs = qs.filter(sender_id=scope.user_id)
        if scope.conversation_id is not None:
            qs = qs.filter(conversation_id=scope.conversation_id)
    elif rule.table == CALL:
        qs = CallRecord.objects.filter(status__in=rule.values).values_list(
            "id", "started_at", "caller_id", "callee_id", "conversation_id"
        )
        if scope.user_id is not None:
            qs = qs.filter(Q(caller_id=scope.user_id) | Q(callee_id=scope.user_id))
        if scope.conversation_id is not None:
            qs = qs.filter(conversation_id=scope.conversation_id)
    else:
        qs = MediaFile.objects.annotate(conv=F("message__conversation_id")).values_list(
            "id", "created_at", "owner_id", "conv"
        )
        if scope.user_id is not None:
            qs = qs.filter(owner_id=scope.user_id)
        if scope.conversation_id is not None:
            qs = qs.filter(message__conversation_id=scope.conversation_id)
    return qs


def candidates(rtype: str, table: PolicyTable, *, scope: Scope = Scope()):
    """Return the rows of ``rtype`` that may be past retention, oldest first.

    The rows of ``scope`` older than the shortest period any row of the type
    can have, as ``(id, age, …)`` tuples in ``(age, id)`` order (``parties``
    reads the rest); None when no row of the type expires. ``expired_rows``
    says which of them are past their own period.
    """
    shortest = table.shortest_days(rtype)
    if shortest is None:
        return None
    age = TYPE_RULES[rtype].age_column
    return (
        _queryset(rtype, scope)
        .filter(**{f"{age}__lt": table.cutoff(shortest)})
        .order_by(age, "id")
    )


def expired_rows(rtype: str, rows: list[tuple], table: PolicyTable) -> list[tuple]:
    """Return those of ``rows`` (from ``candidates``) that are past their period."""
    if table.is_uniform:
        return list(rows)
    cache: dict[tuple, object] = {}
    return [row for row in rows if _expired(rtype, row, table, cache, everything=False)]


def parties(rtype: str, row: tuple) -> tuple[tuple[int, ...], int | None]:
    """Return the users and the conversation whose policies govern a row."""
    if TYPE_RULES[rtype].table == CALL:
        return (row[2], row[3]), row[4]
    return ((row[2],) if row[2] is not None else ()), row[3]


def expired_batches(
    rtype: str,
    table: PolicyTable,
    *,
    scope: Scope = Scope(),
    everything: bool = False,
    sizer: BatchSizer | None = None,
) -> Iterator[list[int]]:
    """Yield lists of ids of expired rows (all in scope when ``everything``).

    Pages hold ``sizer.size`` candidates, read again before each page.
    """
    sizer = sizer or BatchSizer()
    age = TYPE_RULES[rtype].age_column
    if everything:
        qs = _queryset(rtype, scope).order_by(age, "id")
    else:
        qs = candidates(rtype, table, scope=scope)
        if qs is None:
            return
    uniform = table.is_uniform and not everything
    cache: dict[tuple, object] = {}
    last = None
    while True:
        page = qs
        if last is not None:
            # (age, id) > last, written so that the age index bounds the range.
            page = qs.filter(**{f"{age}__gte": last[1]}).filter(
                Q(**{f"{age}__gt": last[1]}) | Q(id__gt=last[0])
            )
        batch_size = sizer.size
        rows = _uniform_page(page, age, batch_size) if uniform else None
        if rows is None:
            rows = list(page[:batch_size])
        if not rows:
            return
        last = rows[-1]
        if uniform:
            ids = [row[0] for row in rows]
        else:
            ids = [
                row[0] for row in rows if _expired(rtype, row, table, cache, everything)
            ]
        if ids:
            yield ids
        if len(rows) < batch_size:
            return


def _uniform_page(page, age: str, batch_size: int) -> list[tuple] | None:
    """Return a page as ``(id,)`` rows and its last row as ``(id, age)``.

    When every row of the type expires alike, only the ids and the last row's
    key matter: reading the age of every row would cost more than moving it
    (a timestamp is parsed in Python). None when the last row went away
    between the two reads: the caller reads the page whole.
    """
    ids = list(page.values_list("id", flat=True)[:batch_size])
    if not ids:
        return []
    key = (
        page.model._base_manager.filter(pk=ids[-1]).values_list(age, flat=True).first()
    )
    if key is None:
        return None
    return [(i,) for i in ids[:-1]] + [(ids[-1], key)]


def _expired(rtype, row, table: PolicyTable, cache: dict, everything: bool) -> bool:
    users, conversation = parties(rtype, row)
    key = (users, conversation)
    resolution = cache.get(key)
    if resolution is None:
        resolution = cache[key] = table.resolve(rtype, users, conversation)
    if resolution.source == "legal_hold":
        return False
    if everything:  # an erasure: everything but what the law must keep
        low = table.bounds[rtype][0]
        return low is None or row[1] < table.cutoff(low)
    return resolution.days is not None and row[1] < table.cutoff(resolution.days)
