"""Content checksums of tables: what a backup chain holds, what a copy holds.

A table's checksum is the sum, modulo 2**128, of the XXH3-128 of each row's
line in the archive's row encoding (COPY text, docs/archive-format.md section
9): independent of row order, which the archives do not fix, and cheap to
update when a row is replaced or deleted. Two tables with the same rows (the
same values, encoded the same way) have the same checksum.

``expected_contents`` computes it from the archives of a chain without
writing anything, following the reconstruction rules of section 13.3: the full
archive's rows, then each incremental's rows replacing those with the same id,
then its tombstones deleting the rows it does not carry itself. Only rows an
incremental touches are remembered, so memory grows with the changes, not
with the tables. ``table_contents`` computes it from a database's table,
encoded exactly as a backup encodes it (``backups.engines.dump_rows``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from xxhash import xxh3_128_intdigest

from backups.archive.rows import iter_lines
from backups.engines import dump_rows
from backups.keyring import KeyRing
from backups.models import Backup
from backups.registry import TOMBSTONE_TABLE, TableSpec
from backups.services.verifying import open_archive
from backups.storage import object_store

MODULUS = 1 << 128


@dataclass
class TableDigest:
    rows: int = 0
    total: int = 0

    @property
    def checksum(self) -> str:
        return f"{self.total % MODULUS:032x}"

    def add(self, line_hash: int) -> None:
        self.rows += 1
        self.total += line_hash

    def remove(self, line_hash: int) -> None:
        self.rows -= 1
        self.total -= line_hash

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "checksum": self.checksum}


@dataclass
class ChainContents:
    """What a chain's archives say its tables hold, and facts from manifests."""

    tables: dict[str, TableDigest]
    source_engines: set[str] = field(default_factory=set)
    mismatched_blobs: set[str] = field(default_factory=set)


def digest_lines(lines: Iterable[bytes]) -> TableDigest:
    digest = TableDigest()
    for line in lines:
        digest.add(xxh3_128_intdigest(line))
    return digest


def table_contents(raw: Any, *, vendor: str, spec: TableSpec) -> TableDigest:
    """Return the digest of ``spec``'s table read through ``raw``."""
    return digest_lines(iter_lines(dump_rows(raw, vendor=vendor, spec=spec)))


def expected_contents(
    chain: list[Backup], labels: set[str], *, keyring: KeyRing
) -> ChainContents:
    """Return the digest of each table in ``labels`` after applying ``chain``."""
    touched = _touched_ids(chain[1:], labels, keyring=keyring)
    contents = ChainContents({label: TableDigest() for label in labels})
    # Hash of each touched row present so far, per table.
    present: dict[str, dict[int, int]] = {label: {} for label in labels}
    for position, backup in enumerate(chain):
        carried: dict[str, set[int]] = {}
        with _archive(backup, keyring) as reader:
            for section in reader.sections():
                kind, _, label = section.name.partition(":")
                if kind == "table" and label == TOMBSTONE_TABLE:
                    _delete(contents, present, carried, section)
                elif kind == "table" and label in labels:
                    rows = iter_lines(section.iter_data())
                    if position == 0:
                        _load_full(
                            contents.tables[label], present[label], rows, touched[label]
                        )
                    else:
                        ids = carried.setdefault(label, set())
                        _replace(contents.tables[label], present[label], rows, ids)
                else:
                    section.skip()
            manifest = reader.manifest
        contents.source_engines.add(manifest.get("source_engine", ""))
        contents.mismatched_blobs.update(
            manifest.get("blobs", {}).get("mismatched", [])
        )
    return contents


@contextlib.contextmanager
def _archive(backup: Backup, keyring: KeyRing) -> Iterator[Any]:
    store = object_store(backup.storage)
    with open_archive(store, backup.object_key, keyring=keyring) as (reader, _):
        yield reader


def _row_id(line: bytes) -> int:
    return int(line.split(b"\t", 1)[0])


def _touched_ids(
    incrementals: list[Backup], labels: set[str], *, keyring: KeyRing
) -> dict[str, set[int]]:
    """Return, per table, the ids any incremental of the chain carries or deletes."""
    touched: dict[str, set[int]] = {label: set() for label in labels}
    for backup in incrementals:
        with _archive(backup, keyring) as reader:
            for section in reader.sections():
                kind, _, label = section.name.partition(":")
                if kind == "table" and label == TOMBSTONE_TABLE:
                    for model, object_id in _tombstones(section):
                        if model in touched:
                            touched[model].add(object_id)
                elif kind == "table" and label in labels:
                    touched[label].update(
                        _row_id(line) for line in iter_lines(section.iter_data())
                    )
                else:
                    section.skip()
    return touched


def _tombstones(section: Any) -> Iterable[tuple[str, int]]:
    columns = section.meta["columns"]
    model_at, id_at = columns.index("model"), columns.index("object_id")
    for line in iter_lines(section.iter_data()):
        fields = line.split(b"\t")
        yield fields[model_at].decode(), int(fields[id_at])


def _load_full(
    digest: TableDigest, present: dict[int, int], rows: Iterable[bytes], touched: set
) -> None:
    for line in rows:
        line_hash = xxh3_128_intdigest(line)
        digest.add(line_hash)
        row_id = _row_id(line)
        if row_id in touched:
            present[row_id] = line_hash


def _replace(
    digest: TableDigest, present: dict[int, int], rows: Iterable[bytes], carried: set
) -> None:
    """Apply an incremental's rows: each replaces the row with its id, if any."""
    for line in rows:
        line_hash = xxh3_128_intdigest(line)
        row_id = _row_id(line)
        previous = present.get(row_id)
        if previous is not None:
            digest.remove(previous)
        digest.add(line_hash)
        present[row_id] = line_hash
        carried.add(row_id)


def _delete(
    contents: ChainContents,
    present: dict[str, dict[int, int]],
    carried: dict[str, set[int]],
    section: Any,
) -> None:
    """Apply tombstones, except to rows the same incremental carries."""
    for model, object_id in _tombstones(section):
        if model not in present or object_id in carried.get(model, ()):
            continue
        previous = present[model].pop(object_id, None)
        if previous is not None:
            contents.tables[model].remove(previous)
