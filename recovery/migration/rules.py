"""Transformation rules for ``migrate_data``: parsing and validation.

A rules file is JSON, or YAML when its name ends in ``.yaml`` or ``.yml``
(the same document, read with PyYAML's safe loader)::

    {"rules": [{"kind": "drop_types", "types": ["call_history"]}, ...]}

Every rule is checked before anything runs; the first problem is reported as
``rule <index> (<kind>): field <field>: <what is wrong>``, so an operator can
find it in the file. docs/migration.md describes each kind with examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from django.db import models

from backups.models import BACKUP_DATA_TYPES
from backups.registry import ACCOUNTS, TABLES, TableSpec
from recovery.exceptions import RecoveryError
from retention.types import RETENTION_TYPES

KINDS = ("drop_types", "drop_fields", "anonymise", "filter", "map")
ANONYMISED_VALUES = ("email", "phone", "name")
METHODS = ("hash", "redact")
FILTER_KEYS = ("users", "conversations", "from", "to", "retention_types")
# A rule names a column as "<table>.<column>": the model's name in lower case.
TABLE_NAMES: dict[str, TableSpec] = {
    spec.label.split(".")[1]: spec for spec in (ACCOUNTS, *TABLES)
}
# Whole-value identity columns of accounts: anonymised as one value, not scanned.
IDENTITY_COLUMNS = {
    "user.username": "name",
    "user.first_name": "name",
    "user.last_name": "name",
    "user.email": "email",
}


class RulesInvalid(RecoveryError):
    """A rules file cannot be used; the message names the rule and the field."""


@dataclass(frozen=True)
class Column:
    """A column a rule names: its table's spec and the model field."""

    name: str  # "message.body"
    spec: TableSpec
    field: models.Field


@dataclass
class Rules:
    """A validated rules file: row selections and per-column transformations."""

    drop_types: set[str] = field(default_factory=set)
    users: set[str] | None = None
    conversations: set[int] | None = None
    since: datetime | None = None
    until: datetime | None = None
    retention_types: set[str] | None = None
    users_rule: int | None = None  # the first filter naming users, for errors
    # Per table label, in file order: ("drop" | "anonymise" | "map", column, rule)
    steps: dict[str, list[tuple[str, Column, dict]]] = field(default_factory=dict)
    count: int = 0

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def anonymises(self) -> bool:
        return any(s[0] == "anonymise" for steps in self.steps.values() for s in steps)

    def data_types(self, available: list[str]) -> list[str]:
        return [t for t in available if t not in self.drop_types]


def load_rules(path: Path | None) -> Rules:
    """Read and validate a rules file (no file: no rules)."""
    if path is None:
        return Rules()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulesInvalid(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if Path(path).suffix.lower() in {".yaml", ".yml"}:
        return parse_rules(_yaml(path, text))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesInvalid(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return parse_rules(document)


def _yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise RulesInvalid(f"{path}: not valid YAML{at}") from exc


def parse_rules(document: Any) -> Rules:
    """Validate a decoded rules document; raise ``RulesInvalid`` naming the rule."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulesInvalid('a rules file is an object with a "rules" list')
    unknown = sorted(set(document) - {"rules", "description"})
    if unknown:
        raise RulesInvalid(f"unknown top-level key(s) {', '.join(unknown)}")
    rules = Rules(count=len(document["rules"]))
    for index, rule in enumerate(document["rules"]):
        _Check(index, rule).into(rules)
    _check_dependencies(rules)
    return rules


class _Check:
    """Validate one rule and add it to ``Rules``."""

    def __init__(self, index: int, rule: Any) -> None:
        self.index, self.rule = index, rule
        self.kind = rule.get("kind") if isinstance(rule, dict) else None

    def fail(self, where: str, problem: str) -> RulesInvalid:
        return RulesInvalid(
            f"rule {self.index} ({self.kind}): field {where}: {problem}"
        )

    def into(self, rules: Rules) -> None:
        if not isinstance(self.rule, dict):
            raise RulesInvalid(f"rule {self.index}: a rule is an object")
        if self.kind not in KINDS:
            raise self.fail("kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        getattr(self, f"_{self.kind}")(rules)

    def keys(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        for key in required:
            if key not in self.rule:
                raise self.fail(key, "missing")
        extra = sorted(set(self.rule) - {"kind", *required, *optional})
        if extra:
            raise self.fail(extra[0], "not a field of this kind of rule")

    def names(self, key: str, choices: tuple[str, ...] | None = None) -> list[str]:
        value = self.rule.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "a non-empty list")
        for item in value:
            if not isinstance(item, str) or (choices and item not in choices):
                allowed = f"; choose from {', '.join(choices)}" if choices else ""
                raise self.fail(key, f"{item!r} is not accepted{allowed}")
        return value

    def column(self, key: str, name: Any) -> Column:
        table, _, column = str(name).partition(".")
        spec = TABLE_NAMES.get(table)
        if spec is None:
            raise self.fail(
                key, f"{name!r}: no table {table!r}; tables: {', '.join(TABLE_NAMES)}"
            )
        fields = {f.column: f for f in spec.model._meta.concrete_fields}
        if column not in fields:
            raise self.fail(
                key,
                f"{name!r}: {table} has no column {column!r}; columns: "
                f"{', '.join(fields)}",
            )
        return Column(str(name), spec, fields[column])

    def _drop_types(self, rules: Rules) -> None:
        self.keys(("types",))
        rules.drop_types.update(self.names("types", tuple(BACKUP_DATA_TYPES)))

    def _drop_fields(self, rules: Rules) -> None:
        self.keys(("fields",))
        for name in self.names("fields"):
            column = self.column("fields", name)
            if column.field.primary_key or column.field.is_relation:
                raise self.fail("fields", f"{name!r} is an id or a reference")
            if not column.field.null and emptied(column.field) is None:
                raise self.fail("fields", f"{name!r} cannot be emptied (not null)")
            rules.steps.setdefault(column.spec.label, []).append(
                ("drop", column, self.rule)
            )

    def _anonymise(self, rules: Rules) -> None:
        self.keys(("fields",), ("values", "method"))
        values = self.rule.get("values", list(ANONYMISED_VALUES))
        self.rule = {**self.rule, "values": values}
        self.names("values", ANONYMISED_VALUES)
        method = self.rule.get("method", "hash")
        if method not in METHODS:
            raise self.fail("method", f"{method!r} is not one of {', '.join(METHODS)}")
        for name in self.names("fields"):
            column = self.column("fields", name)
            if column.field.get_internal_type() not in {
                "CharField",
                "TextField",
                "EmailField",
                "JSONField",
            }:
                raise self.fail("fields", f"{name!r} holds no text")
            if name == "user.username" and method == "redact":
                raise self.fail(
                    "method",
                    "redacting user.username would make accounts collide; use hash",
                )
            rules.steps.setdefault(column.spec.label, []).append(
                ("anonymise", column, {**self.rule, "method": method})
            )

    def _map(self, rules: Rules) -> None:
        self.keys(("field", "values"))
        column = self.column("field", self.rule["field"])
        mapping = self.rule["values"]
        if not isinstance(mapping, dict) or not mapping:
            raise self.fail("values", "an object mapping old values to new ones")
        if column.field.get_internal_type() not in {"CharField", "TextField"}:
            raise self.fail("field", f"{column.name!r} is not a text column")
        choices = [c[0] for c in column.field.choices or ()]
        for old, new in mapping.items():
            if not isinstance(new, str):
                raise self.fail("values", f"{old!r} maps to {new!r}, not a text")
            if choices and new not in choices:
                raise self.fail(
                    "values",
                    f"{new!r} is not a {column.name}; choose from {', '.join(choices)}",
                )
        rules.steps.setdefault(column.spec.label, []).append(("map", column, self.rule))

    def _filter(self, rules: Rules) -> None:
        self.keys((), FILTER_KEYS)
        if not set(self.rule) & set(FILTER_KEYS):
            raise self.fail("kind", f"a filter needs one of {', '.join(FILTER_KEYS)}")
        if "users" in self.rule:
            users = set(self.names("users"))
            if rules.users_rule is None:
                rules.users_rule = self.index
            rules.users = users if rules.users is None else rules.users & users
        if "conversations" in self.rule:
            ids = self.rule["conversations"]
            if (
                not isinstance(ids, list)
                or not ids
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            ):
                raise self.fail("conversations", "a non-empty list of conversation ids")
            found = set(ids)
            rules.conversations = (
                found if rules.conversations is None else rules.conversations & found
            )
        if "retention_types" in self.rule:
            kept = set(self.names("retention_types", RETENTION_TYPES))
            rules.retention_types = (
                kept if rules.retention_types is None else rules.retention_types & kept
            )
        for key in ("from", "to"):
            if key in self.rule:
                moment = self.moment(key)
                if key == "from":
                    rules.since = max(filter(None, (rules.since, moment)))
                else:
                    rules.until = min(filter(None, (rules.until, moment)))
        if rules.since and rules.until and rules.since >= rules.until:
            raise self.fail("to", "the date range is empty (from is not before to)")

    def moment(self, key: str) -> datetime:
        """Read an ISO date (midnight UTC) or date and time (UTC if naive)."""
        text = self.rule[key]
        if isinstance(text, datetime):  # YAML reads unquoted times itself
            return text if text.tzinfo else text.replace(tzinfo=UTC)
        if isinstance(text, date):
            return datetime(text.year, text.month, text.day, tzinfo=UTC)
        try:
            if isinstance(text, str) and len(text) == 10:
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
            moment = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            raise self.fail(
                key, f"{text!r} is not an ISO date (2026-01-31) or date and time"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_dependencies(rules: Rules) -> None:
    """Refuse to keep a table whose required references a dropped type holds."""
    dropped = {s.label for s in TABLES if s.data_type in rules.drop_types}
    for spec in TABLES:
        if spec.label in dropped:
            continue
        for f in spec.model._meta.concrete_fields:
            target = f.related_model._meta.label_lower if f.is_relation else None
            if target in dropped and not f.null:
                owner = next(s for s in TABLES if s.label == target)
                raise RulesInvalid(
                    f"drop_types: {spec.data_type} need {owner.data_type} "
                    f"({spec.label}.{f.column}); drop {spec.data_type} too"
                )


def emptied(model_field: models.Field) -> Any:
    """The value a dropped column gets: NULL where allowed, else its kind's empty."""
    if model_field.null:
        return None
    return {
        "CharField": "",
        "TextField": "",
        "EmailField": "",
        "JSONField": {},
        "BooleanField": False,
        "PositiveIntegerField": 0,
        "IntegerField": 0,
        "PositiveBigIntegerField": 0,
        "BigIntegerField": 0,
    }.get(model_field.get_internal_type())
