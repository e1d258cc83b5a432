"""The rows of a retention type past their period, as one SQL query.

The precedence of ``PolicyTable.resolve`` (docs/retention.md) written as SQL
over the few policy rows, so that the database counts and pages the rows past
retention and no row is read into Python to be resolved:

1. each row gets a preference key: ``HELD`` when an active legal hold covers
   any of its users or its conversation; otherwise the shortest of its users'
   and its conversation's preferences for the type (``KEEP`` for "keep", the
   longest); ``ABSENT`` when none applies;
2. each key the type can have maps, here in Python, to the row's effective
   period as ``resolve`` gives it (the global default for ``ABSENT``, then
   the legal bounds; none for ``HELD``) and so to a cutoff;
3. a row is past retention when its age is below the cutoff of its key.

Every query is built from one ``PolicyTable``, so a count and the pages that
archive afterwards walk the same rows, whatever the size of the data: the
number of queries is one per type for a count, one per page for the ids.
Table names can be swapped for staged ones (a restore's preview).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db import connection

from messaging.models import CallRecord, MediaFile, Message
from retention.services.policies import KEEP, PolicyTable
from retention.types import CALL, MAX_DAYS, MESSAGE, TYPE_RULES

HELD = -1
KEEP_KEY = MAX_DAYS + 1  # sorts after every period, as resolve's _sort_key
ABSENT = MAX_DAYS + 2  # sorts after "keep": any preference wins over none


def _sources(rtype: str, names: Mapping[str, str]) -> tuple[str, list, dict]:
    """Return the FROM and type filter of ``rtype``, its params, and its columns."""
    rule = TYPE_RULES[rtype]
    message = names.get(Message._meta.db_table, Message._meta.db_table)
    marks = ", ".join(["%s"] * len(rule.values))
    if rule.table == MESSAGE:
        sql = f"FROM {message} t WHERE t.kind IN ({marks})"
        cols = {"users": ["t.sender_id"], "conversation": "t.conversation_id"}
    elif rule.table == CALL:
        call = names.get(CallRecord._meta.db_table, CallRecord._meta.db_table)
        sql = f"FROM {call} t WHERE t.status IN ({marks})"
        cols = {"users": ["t.caller_id", "t.callee_id"]}
        cols["conversation"] = "t.conversation_id"
    else:
        media = names.get(MediaFile._meta.db_table, MediaFile._meta.db_table)
        sql = f"FROM {media} t LEFT JOIN {message} m ON m.id = t.message_id WHERE 1 = 1"
        cols = {"users": ["t.owner_id"], "conversation": "m.conversation_id"}
    return sql, list(rule.values), cols


def _case(column: str, prefs: dict[int, int]) -> str:
    """Return a column's preference key: ``CASE column WHEN id THEN key … END``."""
    if not prefs:
        return str(ABSENT)
    whens = " ".join(f"WHEN {int(k)} THEN {int(v)}" for k, v in sorted(prefs.items()))
    return f"CASE {column} {whens} ELSE {ABSENT} END"


def _in(column: str, ids: set[int]) -> str | None:
    return (
        f"{column} IN ({', '.join(str(int(i)) for i in sorted(ids))})" if ids else None
    )


def _key_expression(rtype: str, table: PolicyTable, cols: dict) -> str:
    """Return the SQL of a row's preference key (step 1 of the module's comment)."""

    def keys(prefs_by_id: dict[int, dict]) -> dict[int, int]:
        return {
            pk: KEEP_KEY if prefs[rtype] is KEEP else prefs[rtype]
            for pk, prefs in prefs_by_id.items()
            if rtype in prefs
        }

    user_keys = keys(table.user_prefs)
    terms = [_case(column, user_keys) for column in cols["users"]]
    terms.append(_case(cols["conversation"], keys(table.conversation_prefs)))
    terms = [t for t in terms if t != str(ABSENT)] or [str(ABSENT)]
    # The smallest key: LEAST on PostgreSQL, the scalar MIN on SQLite.
    shortest = "LEAST" if connection.vendor == "postgresql" else "MIN"
    key = terms[0] if len(terms) == 1 else f"{shortest}({', '.join(terms)})"
    held = [_in(column, table.held_users) for column in cols["users"]]
    held.append(_in(cols["conversation"], table.held_conversations))
    held = [h for h in held if h]
    if not held:
        return key
    return f"CASE WHEN {' OR '.join(held)} THEN {HELD} ELSE {key} END"


def _periods(rtype: str, table: PolicyTable) -> dict[int, list[int]]:
    """Return the keys of ``rtype`` by effective period (step 2), held ones left out."""
    found = {ABSENT, KEEP_KEY}
    for prefs in (*table.user_prefs.values(), *table.conversation_prefs.values()):
        if rtype in prefs and prefs[rtype] is not KEEP:
            found.add(prefs[rtype])
    by_days: dict[int, list[int]] = {}
    for key in sorted(found):
        if key == ABSENT:
            days = table.global_days[rtype]
        else:
            days = KEEP if key == KEEP_KEY else key
        days = table.bounded_days(rtype, days)
        if days is not None:
            by_days.setdefault(days, []).append(key)
    return by_days


def _past_query(
    rtype: str,
    table: PolicyTable,
    names: Mapping[str, str],
    user_id: int | None,
    select: str,
) -> tuple[str, list] | None:
    """Return ``SELECT {select} FROM (candidates) r WHERE past retention``."""
    shortest = table.shortest_days(rtype)
    by_days = _periods(rtype, table)
    if shortest is None or not by_days:
        return None
    source, params, cols = _sources(rtype, names)
    age = TYPE_RULES[rtype].age_column
    adapt = connection.ops.adapt_datetimefield_value
    inner = (
        f"SELECT t.id AS id, t.{age} AS age, "
        f"{_key_expression(rtype, table, cols)} AS pref "
        f"{source} AND t.{age} < %s"
    )
    params.append(adapt(table.cutoff(shortest)))
    if user_id is not None:
        parties = " OR ".join(f"{c} = %s" for c in cols["users"])
        inner += f" AND ({parties})"
        params += [user_id] * len(cols["users"])
    conditions = []
    for days, keys in sorted(by_days.items()):
        conditions.append(f"(r.pref IN ({', '.join(map(str, keys))}) AND r.age < %s)")
        params.append(adapt(table.cutoff(days)))
    sql = f"SELECT {select} FROM ({inner}) r WHERE ({' OR '.join(conditions)})"
    return sql, params


def count_past(
    rtype: str,
    table: PolicyTable,
    *,
    names: Mapping[str, str] | None = None,
    user_id: int | None = None,
) -> int:
    """Return how many rows of ``rtype`` are past their period (one query)."""
    query = _past_query(rtype, table, names or {}, user_id, "COUNT(*)")
    if query is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(*query)
        return cursor.fetchone()[0]


def past_id_pages(
    rtype: str, table: PolicyTable, *, user_id: int | None = None, sizer
) -> Iterator[list[int]]:
    """Yield the ids of the live rows of ``rtype`` past their period, page by page.

    Pages follow the id (``id > last``) and hold ``sizer.size`` ids, read
    again before each page; the caller may delete each page before the next.
    """
    query = _past_query(rtype, table, {}, user_id, "r.id")
    if query is None:
        return
    sql, params = query
    last = 0
    while True:
        size = sizer.size
        with connection.cursor() as cursor:
            cursor.execute(
                f"{sql} AND r.id > %s ORDER BY r.id LIMIT %s", [*params, last, size]
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        if len(ids) < size:
            return
        last = ids[-1]
