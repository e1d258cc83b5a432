"""Small, real media payloads for seeded rows, stored once per content.

Invariant: a ``MediaFile`` row's ``file`` names an object in the ``media``
storage whose bytes have exactly the row's ``size`` and ``sha256``; the name is
the content address ``ab/abcdef…`` (the sha256 hex), so many rows share one
object and writing it twice is a no-op.

The pool holds valid PNG images, WAV voice notes, PDF documents and UTF-8
text notes, a few hundred of them, all derived from the seed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from messaging.seeding.corpus import HINDI, TELUGU, dumps

PNG_COUNT, WAV_COUNT, PDF_COUNT, TEXT_COUNT = 120, 100, 40, 40
WAV_RATE = 8000  # Hz, 16-bit mono: about 16 KB per second


@dataclass(frozen=True)
class Payload:
    """One distinct file content."""

    kind: str  # "image", "voice", "document" or "text"
    content_type: str
    extension: str
    data: bytes
    sha256: str
    duration_ms: int = 0  # voice notes only

    @property
    def storage_name(self) -> str:
        return f"{self.sha256[:2]}/{self.sha256}"

    @property
    def metadata(self) -> str:
        """Return the JSON metadata of a voice message carrying this payload."""
        return dumps({"codec": "pcm_s16le", "duration_ms": self.duration_ms})


@functools.lru_cache(maxsize=4)
def build_payloads(seed: int) -> tuple[Payload, ...]:
    """Return the pool of distinct payloads for ``seed`` (cached: about 1 MB)."""
    rng = random.Random(f"talowa-seed:{seed}:media-bytes")
    pool = [_payload("image", "image/png", "png", _png(rng)) for _ in range(PNG_COUNT)]
    for _ in range(WAV_COUNT):
        data, duration_ms = _wav(rng)
        pool.append(_payload("voice", "audio/wav", "wav", data, duration_ms))
    pool += [
        _payload("document", "application/pdf", "pdf", _pdf(rng))
        for _ in range(PDF_COUNT)
    ]
    pool += [
        _payload("text", "text/plain; charset=utf-8", "txt", _text(rng))
        for _ in range(TEXT_COUNT)
    ]
    return tuple(pool)


def store_payloads(storage: Storage, payloads: list[Payload]) -> int:
    """Save each payload under its content address unless present; count writes."""
    written = 0
    for payload in payloads:
        name = payload.storage_name
        if storage.exists(name):
            continue
        saved = storage.save(name, ContentFile(payload.data))
        if saved != name:  # a concurrent writer won the race: same bytes
            storage.delete(saved)
        written += 1
    return written


def _payload(
    kind: str, content_type: str, extension: str, data: bytes, duration_ms: int = 0
) -> Payload:
    digest = hashlib.sha256(data).hexdigest()
    return Payload(kind, content_type, extension, data, digest, duration_ms)


def _png(rng: random.Random) -> bytes:
    """Return a small RGB PNG: a two-colour vertical gradient."""
    width, height = rng.randint(1, 48), rng.randint(1, 48)
    top = [rng.randrange(256) for _ in range(3)]
    bottom = [rng.randrange(256) for _ in range(3)]
    rows = bytearray()
    for y in range(height):
        mix = y / max(height - 1, 1)
        pixel = bytes(
            round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)
        )
        rows += b"\x00" + pixel * width  # filter type 0 per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9)),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _wav(rng: random.Random) -> tuple[bytes, int]:
    """Return a short 16-bit mono PCM WAV (a fading two-tone "voice") and its ms."""
    duration_ms = rng.randrange(250, 1500, 50)
    count = WAV_RATE * duration_ms // 1000
    low, high = rng.uniform(110, 260), rng.uniform(400, 900)
    step = 2 * math.pi / WAV_RATE
    samples = array(
        "h",
        (
            int(
                9000
                * (1 - n / count)
                * (math.sin(low * n * step) + 0.3 * math.sin(high * n * step))
            )
            for n in range(count)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    data = samples.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, WAV_RATE, WAV_RATE * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data, duration_ms


def _pdf(rng: random.Random) -> bytes:
    """Return a one-page PDF with a line of text and a correct xref table."""
    line = f"TALOWA land record {rng.randint(1, 999)}/{rng.choice('ABCDEFGH')}"
    stream = f"BT /F1 14 Tf 40 760 Td ({line}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _text(rng: random.Random) -> bytes:
    """Return a short UTF-8 note mixing Telugu and Hindi lines."""
    lines = rng.sample(TELUGU, 2) + rng.sample(HINDI, 2) + [f"#{rng.randint(1, 9999)}"]
    return ("\n".join(lines) + "\n").encode("utf-8")
