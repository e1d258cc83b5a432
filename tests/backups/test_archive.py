"""Round trips, tamper detection, key rotation and memory bounds of archives."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import tracemalloc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
import xxhash

from backups.archive import (
    ArchiveReader,
    ArchiveResult,
    ArchiveWriter,
    crypto,
    parse_sidecar,
    read_manifest_from_sidecar,
    rewrap_data_key,
)
from backups.archive import format as fmt
from backups.exceptions import ArchiveCorrupted, BackupError, KeyUnavailable
from backups.keyring import KeyRing
from tests.backups import reference_decoder

CHUNK = 4096
SECRET_BODY = "SECRET-BODY నమస్కారం नमस्ते 🙂 meet at the old well"
KEK1 = bytes(range(32))
KEK2 = bytes(range(100, 132))


@dataclass
class Written:
    """An archive written in memory, with what went into it."""

    blob: bytes
    result: ArchiveResult
    sections: list[tuple[str, dict, bytes, int | None]]


class ForwardOnly:
    """A binary input offering only ``read(n)``, returning short reads."""

    def __init__(self, data: bytes, *, max_read: int = 1000) -> None:
        self._stream = io.BytesIO(data)
        self._max_read = max_read

    def read(self, size: int = -1) -> bytes:
        """Return at most ``max_read`` bytes."""
        if size < 0:
            size = self._max_read
        return self._stream.read(min(size, self._max_read))


class HashingSink:
    """An output that only counts and hashes (SHA-256, XXH3-128) what it receives."""

    def __init__(self) -> None:
        self.size = 0
        self.hasher = hashlib.sha256()
        self.xxh3 = xxhash.xxh3_128()

    def write(self, data: bytes) -> int:
        """Count and hash ``data``."""
        self.size += len(data)
        self.hasher.update(data)
        self.xxh3.update(data)
        return len(data)


def text_data(size: int, *, seed: int) -> bytes:
    """Return COPY-like text lines with some repetition, about ``size`` bytes."""
    rng = random.Random(seed)
    words = ["hello", "నమస్కారం", "नमस्ते", "🙂", "message", "reply", "ok", "\\t"]
    lines = []
    total = 0
    while total < size:
        body = " ".join(rng.choice(words) for _ in range(rng.randint(1, 25)))
        line = f"{total}\t{rng.randint(1, 9999)}\t{body}\t2026-11-26 07:20:38+00\n"
        lines.append(line.encode())
        total += len(lines[-1])
    return b"".join(lines)


def pieces(data: bytes, *, seed: int) -> Iterator[bytes]:
    """Yield ``data`` cut at random sizes, from 1 byte to 300 KiB."""
    rng = random.Random(seed)
    position = 0
    while position < len(data):
        size = rng.choice([1, 17, 4096, 70_000, 300_000])
        yield data[position : position + size]
        position += size


def write_archive(
    sections: Iterable[tuple[str, dict, bytes, int | None]],
    *,
    archive_id: str = "backup_test_1",
    key_id: str = "k1",
    kek: bytes = KEK1,
    chunk_size: int = CHUNK,
    manifest: dict | None = None,
) -> Written:
    """Write ``sections`` into an in-memory archive."""
    sections = list(sections)
    out = io.BytesIO()
    writer = ArchiveWriter(
        out, archive_id=archive_id, key_id=key_id, kek=kek, chunk_size=chunk_size
    )
    for index, (name, meta, data, rows) in enumerate(sections):
        writer.begin_section(name, meta)
        for piece in pieces(data, seed=index):
            writer.write(piece)
        writer.end_section(rows=rows)
    result = writer.finish(manifest if manifest is not None else {"kind": "full"})
    return Written(out.getvalue(), result, sections)


def read_archive(
    blob: bytes, *, keyring: KeyRing, sidecar: bytes | list[bytes] | None = None
):
    """Read every section of ``blob``; return sections and manifest."""
    reader = ArchiveReader(ForwardOnly(blob), keyring=keyring, sidecar=sidecar)
    found = []
    for section in reader.sections():
        found.append((section.name, section.meta, section.read_all()))
    return found, reader.manifest


def chunk_span(written: Written, index: int) -> tuple[int, int]:
    """Return the start and end offsets of stored chunk ``index``."""
    start = header_length(written.blob) + index * (CHUNK + fmt.TAG_LENGTH)
    return start, min(start + CHUNK + fmt.TAG_LENGTH, len(written.blob))


def header_length(blob: bytes) -> int:
    """Return the size of the header of ``blob``."""
    return fmt.PREAMBLE.size + int.from_bytes(blob[10:14], "big")


def flip(blob: bytes, position: int) -> bytes:
    """Return ``blob`` with one bit flipped at ``position``."""
    changed = bytearray(blob)
    changed[position] ^= 0x01
    return bytes(changed)


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing([("k1", KEK1)])


@pytest.fixture(scope="module")
def big() -> Written:
    """An archive with text, random, empty and tiny sections over many chunks."""
    sections = [
        (
            "messaging.message",
            {"table": "messaging_message", "columns": ["id", "n", "body", "at"]},
            text_data(3_000_000, seed=1) + SECRET_BODY.encode(),
            42,
        ),
        ("blobs", {"columns": []}, random.Random(2).randbytes(2_500_000), None),
        ("empty", {"columns": ["id"]}, b"", 0),
        ("tiny", {}, b"x", 1),
    ]
    return write_archive(sections, manifest={"kind": "full", "tables": ["x"]})


@pytest.fixture(scope="module")
def small() -> Written:
    """A small archive of a few chunks, cheap to tamper with many times."""
    data = random.Random(3).randbytes(5 * CHUNK) + SECRET_BODY.encode()
    return write_archive([("one", {"a": 1}, data, 3), ("two", {}, b"end", None)])


def test_round_trip_keeps_sections_and_manifest(big: Written, keyring: KeyRing):
    found, manifest = read_archive(big.blob, keyring=keyring)
    assert [(n, m, d) for n, m, d, _ in big.sections] == found
    assert manifest["kind"] == "full"
    assert manifest["tables"] == ["x"]
    summaries = manifest["archive"]["sections"]
    assert [s["name"] for s in summaries] == [n for n, *_ in big.sections]
    assert summaries[0]["rows"] == 42
    assert summaries[0]["xxh3_128"] == xxhash.xxh3_128(big.sections[0][2]).hexdigest()


def test_result_describes_the_stored_object(big: Written):
    result = big.result
    assert result.stored_bytes == len(big.blob)
    assert result.sha256 == hashlib.sha256(big.blob).hexdigest()
    assert result.data_bytes == sum(len(data) for _, _, data, _ in big.sections)
    assert result.raw_bytes > result.data_bytes
    assert result.chunks == result.compressed_bytes // CHUNK + 1 > 100
    body = len(big.blob) - header_length(big.blob)
    assert body == result.compressed_bytes + result.chunks * fmt.TAG_LENGTH
    sidecar = parse_sidecar(result.sidecar)
    assert sidecar.archive_bytes == len(big.blob)
    assert sidecar.archive_sha256 == result.sha256


def test_reference_decoder_reads_writer_output(big: Written):
    keys = {"k1": KEK1}
    for sidecar in (None, big.result.sidecar):
        decoded = reference_decoder.decode_archive(big.blob, keys=keys, sidecar=sidecar)
        got = [(s.name, s.meta, s.data, s.end["rows"]) for s in decoded.sections]
        assert got == big.sections
        assert decoded.manifest == big.result.manifest
        assert decoded.chunks == big.result.chunks
        assert decoded.header["archive_id"] == "backup_test_1"
    from_sidecar = reference_decoder.manifest_from_sidecar(
        big.result.sidecar, keys=keys
    )
    assert from_sidecar == big.result.manifest


def test_stored_bytes_contain_no_plaintext(big: Written):
    for needle in (SECRET_BODY.encode(), b"messaging.message", b"meet at the old"):
        assert needle not in big.blob
        assert needle not in big.result.sidecar


def test_sections_can_be_skipped_and_are_still_verified(big: Written, keyring):
    reader = ArchiveReader(io.BytesIO(big.blob), keyring=keyring)
    names = [section.name for section in reader.sections()]
    assert names == [name for name, *_ in big.sections]
    assert [s.rows for s in reader.summaries] == [42, None, 0, 1]
    assert reader.manifest == big.result.manifest


def test_partially_read_section_is_drained(big: Written, keyring: KeyRing):
    reader = ArchiveReader(io.BytesIO(big.blob), keyring=keyring)
    sections = reader.sections()
    first = next(sections)
    assert next(first.iter_data())
    second = next(sections)
    assert second.read_all() == big.sections[1][2]
    for _ in sections:
        pass
    assert reader.manifest["kind"] == "full"
    with pytest.raises(RuntimeError, match="already read"):
        first.iter_data()


def test_final_chunk_may_be_empty(keyring: KeyRing):
    size = 3 * CHUNK
    for _ in range(10):
        data = random.Random(size).randbytes(size)
        written = write_archive([("r", {}, data, None)], manifest={})
        excess = written.result.compressed_bytes % CHUNK
        if excess == 0:
            break
        size += CHUNK - excess
    assert written.result.compressed_bytes % CHUNK == 0
    final_start, final_end = chunk_span(written, written.result.chunks - 1)
    assert final_end - final_start == fmt.TAG_LENGTH
    assert read_archive(written.blob, keyring=keyring)[0][0][2] == data
    reference_decoder.decode_archive(written.blob, keys={"k1": KEK1})
    with pytest.raises(ArchiveCorrupted, match="truncated"):
        read_archive(written.blob[:final_start], keyring=keyring)


def test_every_header_byte_is_protected(small: Written, keyring: KeyRing):
    for position in range(header_length(small.blob)):
        with pytest.raises((ArchiveCorrupted, KeyUnavailable)):
            read_archive(flip(small.blob, position), keyring=keyring)


def test_flipped_magic_version_and_length_are_reported(small: Written, keyring):
    with pytest.raises(ArchiveCorrupted, match="not a TALOWA backup archive"):
        read_archive(flip(small.blob, 0), keyring=keyring)
    with pytest.raises(ArchiveCorrupted, match="version"):
        read_archive(flip(small.blob, 9), keyring=keyring)
    with pytest.raises(ArchiveCorrupted):
        read_archive(flip(small.blob, 12), keyring=keyring)


def test_flipped_wrapped_key_is_reported(small: Written, keyring: KeyRing):
    header = json.loads(small.blob[14 : header_length(small.blob)])
    wrapped = bytearray(fmt.decode_wrapped_key(header["wrapped_key"]))
    wrapped[20] ^= 0x01
    header["wrapped_key"] = base64.b64encode(bytes(wrapped)).decode()
    body = fmt.dump_json(header)
    blob = fmt.PREAMBLE.pack(fmt.MAGIC, fmt.FORMAT_VERSION, len(body)) + body
    blob += small.blob[header_length(small.blob) :]
    with pytest.raises(ArchiveCorrupted, match="wrapped data key .* failed"):
        read_archive(blob, keyring=keyring)


def test_flipped_header_field_fails_chunk_zero(small: Written, keyring: KeyRing):
    text = small.blob[: header_length(small.blob)]
    changed = text.replace(b'"compression_level":3', b'"compression_level":4')
    assert changed != text
    with pytest.raises(ArchiveCorrupted, match="chunk 0 failed") as caught:
        read_archive(changed + small.blob[len(text) :], keyring=keyring)
    assert caught.value.chunk_index == 0


@pytest.mark.parametrize("where", ["start", "middle", "tag"])
@pytest.mark.parametrize("chunk", [0, 1, 3, -1])
def test_flipped_chunk_byte_names_the_chunk(small, keyring, chunk: int, where: str):
    index = chunk % small.result.chunks
    start, end = chunk_span(small, index)
    position = {"start": start, "middle": (start + end) // 2, "tag": end - 1}[where]
    with pytest.raises(ArchiveCorrupted) as caught:
        read_archive(flip(small.blob, position), keyring=keyring)
    assert caught.value.chunk_index == index
    assert f"chunk {index} failed authentication: the archive is corrupted" in str(
        caught.value
    )


def test_truncation_at_each_chunk_boundary_is_detected(small, keyring):
    for index in range(small.result.chunks):
        start, _ = chunk_span(small, index)
        with pytest.raises(ArchiveCorrupted, match="truncated") as caught:
            read_archive(small.blob[:start], keyring=keyring)
        assert caught.value.chunk_index == index


@pytest.mark.parametrize("keep", [1, 15, 16, 100, CHUNK])
def test_truncation_inside_a_chunk_is_detected(small, keyring, keep: int):
    start, _ = chunk_span(small, 2)
    with pytest.raises(ArchiveCorrupted) as caught:
        read_archive(small.blob[: start + keep], keyring=keyring)
    assert caught.value.chunk_index == 2


def test_truncated_header_is_detected(small: Written, keyring: KeyRing):
    for size in (0, 5, 14, header_length(small.blob) - 1):
        with pytest.raises(ArchiveCorrupted):
            read_archive(small.blob[:size], keyring=keyring)


def test_appended_bytes_are_detected(small: Written, keyring: KeyRing):
    last = small.result.chunks - 1
    for extra in (b"\x00", bytes(CHUNK)):
        with pytest.raises(ArchiveCorrupted, match=f"chunk {last} failed"):
            read_archive(small.blob + extra, keyring=keyring)


def test_swapped_chunks_are_detected(small: Written, keyring: KeyRing):
    first, second = chunk_span(small, 1), chunk_span(small, 2)
    blob = (
        small.blob[: first[0]]
        + small.blob[second[0] : second[1]]
        + small.blob[first[0] : first[1]]
        + small.blob[second[1] :]
    )
    with pytest.raises(ArchiveCorrupted, match="chunk 1 failed") as caught:
        read_archive(blob, keyring=keyring)
    assert caught.value.chunk_index == 1


def test_dropped_and_duplicated_chunks_are_detected(small: Written, keyring):
    start, end = chunk_span(small, 2)
    dropped = small.blob[:start] + small.blob[end:]
    duplicated = small.blob[:end] + small.blob[start:]
    for blob in (dropped, duplicated):
        with pytest.raises(ArchiveCorrupted) as caught:
            read_archive(blob, keyring=keyring)
        assert caught.value.chunk_index in (2, 3)


def test_chunk_spliced_from_another_archive_is_detected(small, keyring, monkeypatch):
    # Same KEK and even the same data key: the header hash in the AAD differs.
    monkeypatch.setattr(crypto, "new_data_key", lambda: b"\x07" * 32)
    data = small.sections[0][2]
    one = write_archive([("one", {"a": 1}, data, 3)], archive_id="backup_a")
    other = write_archive([("one", {"a": 1}, data, 3)], archive_id="backup_b")
    start, end = chunk_span(one, 1)
    spliced = one.blob[:start] + other.blob[start:end] + one.blob[end:]
    with pytest.raises(ArchiveCorrupted, match="chunk 1 failed"):
        read_archive(spliced, keyring=keyring)


def test_wrong_kek_under_the_right_id_names_the_key(small: Written):
    wrong = KeyRing([("k1", KEK2)])
    with pytest.raises(KeyUnavailable, match="'k1'") as caught:
        read_archive(small.blob, keyring=wrong)
    assert caught.value.key_id == "k1"
    assert KEK2.hex() not in str(caught.value)


def test_missing_key_id_is_reported(small: Written):
    with pytest.raises(KeyUnavailable, match="backup key 'k1' is not configured"):
        read_archive(small.blob, keyring=KeyRing([("k2", KEK2)]))


def test_rotation_rewraps_only_the_sidecar(small: Written):
    both = KeyRing([("k2", KEK2), ("k1", KEK1)])
    rotated = rewrap_data_key(small.result.sidecar, keyring=both)
    assert parse_sidecar(rotated).key_id == "k2"
    only_new = KeyRing([("k2", KEK2)])
    found, manifest = read_archive(small.blob, keyring=only_new, sidecar=rotated)
    assert found[0][2] == small.sections[0][2]
    assert manifest == small.result.manifest
    assert read_manifest_from_sidecar(rotated, keyring=only_new) == manifest
    decoded = reference_decoder.decode_archive(
        small.blob, keys={"k2": KEK2}, sidecar=rotated
    )
    assert decoded.manifest == manifest
    with pytest.raises(KeyUnavailable, match="'k1'"):
        read_archive(small.blob, keyring=only_new)


def test_manifest_is_readable_from_the_sidecar_alone(big: Written, keyring):
    manifest = read_manifest_from_sidecar(big.result.sidecar, keyring=keyring)
    assert manifest == big.result.manifest
    assert manifest["archive"]["archive_id"] == "backup_test_1"


def test_tampered_sidecar_is_rejected(small: Written, keyring: KeyRing):
    fields = json.loads(small.result.sidecar)
    sealed = bytearray(base64.b64decode(fields["manifest"]))
    sealed[0] ^= 0x01
    fields["manifest"] = base64.b64encode(bytes(sealed)).decode()
    tampered = json.dumps(fields).encode()
    with pytest.raises(ArchiveCorrupted, match="sidecar"):
        read_manifest_from_sidecar(tampered, keyring=keyring)
    with pytest.raises(ArchiveCorrupted):
        read_archive(small.blob, keyring=keyring, sidecar=tampered)
    with pytest.raises(ArchiveCorrupted, match="sidecar is unusable"):
        read_manifest_from_sidecar(b"{not json", keyring=keyring)


def test_sidecar_of_another_archive_is_rejected(small: Written, keyring):
    other = write_archive([("one", {}, b"data", None)], archive_id="backup_other")
    with pytest.raises(ArchiveCorrupted, match="sidecar belongs to archive"):
        read_archive(small.blob, keyring=keyring, sidecar=other.result.sidecar)


def test_wrapped_key_moved_to_another_archive_fails(small: Written, keyring):
    fields = json.loads(small.result.sidecar)
    fields["archive_id"] = "backup_elsewhere"
    with pytest.raises(ArchiveCorrupted, match="wrapped data key"):
        read_manifest_from_sidecar(json.dumps(fields).encode(), keyring=keyring)


def test_writer_rejects_misuse():
    writer = ArchiveWriter(io.BytesIO(), archive_id="backup_x", key_id="k1", kek=KEK1)
    with pytest.raises(RuntimeError, match="no section is open"):
        writer.write(b"x")
    writer.begin_section("a")
    with pytest.raises(RuntimeError, match="still open"):
        writer.finish({})
    writer.end_section()
    with pytest.raises(ValueError, match="already written"):
        writer.begin_section("a")
    with pytest.raises(ValueError, match="'archive'"):
        writer.finish({"archive": 1})
    writer.finish({})
    with pytest.raises(RuntimeError, match="finished"):
        writer.begin_section("b")
    with pytest.raises(ValueError, match="archive id"):
        ArchiveWriter(io.BytesIO(), archive_id="bad id", key_id="k1", kek=KEK1)


def test_manifest_is_unavailable_before_reading(small: Written, keyring):
    reader = ArchiveReader(io.BytesIO(small.blob), keyring=keyring)
    with pytest.raises(RuntimeError):
        reader.manifest  # noqa: B018
    assert reader.verify() == small.result.manifest
    assert issubclass(ArchiveCorrupted, BackupError)


def generated_blocks(total: int, *, block: int = 64 * 1024) -> Iterator[bytes]:
    """Yield ``total`` bytes of text-like data in fresh blocks."""
    pool = text_data(1 << 20, seed=9) + random.Random(9).randbytes(1 << 19)
    sent = 0
    offset = 0
    while sent < total:
        offset = (offset + 7919) % (len(pool) - block)
        yield pool[offset : offset + block]
        sent += block


def test_memory_stays_bounded_while_streaming(tmp_path, keyring: KeyRing):
    total = 64 << 20
    path = tmp_path / "big.archive"
    blocks = generated_blocks(total)
    tracemalloc.start()
    try:
        with path.open("wb") as out:
            writer = ArchiveWriter(out, archive_id="backup_mem", key_id="k1", kek=KEK1)
            writer.begin_section("data", {})
            for block in blocks:
                writer.write(block)
            writer.end_section()
            result = writer.finish({})
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = HashingSink()
        with path.open("rb") as inp:
            reader = ArchiveReader(inp, keyring=keyring)
            for section in reader.sections():
                for piece in section.iter_data():
                    sink.write(piece)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.data_bytes == sink.size == total
    assert (
        reader.manifest["archive"]["sections"][0]["xxh3_128"] == sink.xxh3.hexdigest()
    )
    assert write_peak < 6 << 20, write_peak
    assert read_peak < 6 << 20, read_peak


def test_writer_streams_into_a_counting_sink(keyring: KeyRing):
    sink = HashingSink()
    writer = ArchiveWriter(sink, archive_id="backup_sink", key_id="k1", kek=KEK1)
    writer.begin_section("data", {})
    for block in generated_blocks(8 << 20):
        writer.write(block)
    writer.end_section()
    result = writer.finish({})
    assert result.stored_bytes == sink.size
    assert result.sha256 == sink.hasher.hexdigest()


def test_data_key_is_fresh_per_archive():
    one = write_archive([("a", {}, b"same", None)], archive_id="backup_same")
    two = write_archive([("a", {}, b"same", None)], archive_id="backup_same")
    assert one.blob != two.blob


def test_reader_uses_the_first_usable_sidecar_copy(small: Written):
    both = KeyRing([("k2", KEK2), ("k1", KEK1)])
    rotated = rewrap_data_key(small.result.sidecar, keyring=both)
    only_new = KeyRing([("k2", KEK2)])
    other = write_archive([("one", {}, b"data", None)], archive_id="backup_other")
    fields = json.loads(rotated)
    sealed = bytearray(base64.b64decode(fields["manifest"]))
    sealed[-1] ^= 0x01
    fields["manifest"] = base64.b64encode(bytes(sealed)).decode()
    bad_manifest = json.dumps(fields).encode()
    for first in (b"{not json", other.result.sidecar, bad_manifest):
        copies = [first, rotated]
        reader = ArchiveReader(
            ForwardOnly(small.blob), keyring=only_new, sidecar=copies
        )
        assert reader.key_id == "k2" and len(reader.sidecar_problems) == 1
        assert reader.verify() == small.result.manifest
        decoded = reference_decoder.decode_archive(
            small.blob, keys={"k2": KEK2}, sidecar=copies
        )
        assert decoded.manifest == small.result.manifest
    assert read_manifest_from_sidecar([b"", rotated], keyring=only_new) == (
        small.result.manifest
    )


def test_with_no_usable_copy_a_missing_key_is_reported_before_damage(
    small: Written, keyring: KeyRing
):
    only_new = KeyRing([("k2", KEK2)])  # the sidecar is wrapped by k1
    with pytest.raises(KeyUnavailable, match="'k1'"):
        read_archive(
            small.blob, keyring=only_new, sidecar=[b"{not json", small.result.sidecar]
        )
    with pytest.raises(ArchiveCorrupted, match="sidecar is unusable"):
        read_archive(small.blob, keyring=keyring, sidecar=[b"{not json", b"{}"])
