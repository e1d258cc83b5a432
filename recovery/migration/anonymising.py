"""Pseudonyms and redaction of e-mail addresses, phone numbers and names.

Invariants:
- The same value gets the same pseudonym everywhere within one run (an
  account's username and the same name in a message body), and a different
  one in another run: pseudonyms are an HMAC-SHA-256 under a random key made
  for the run, kept only in memory, never logged or stored, so no one can
  link two migrations or reverse a pseudonym by hashing guesses.
- Values are compared in a normal form (names case-folded, phone numbers as
  their digits), so "Asha" and "asha", "+91 98480 22338" and "+919848022338"
  meet the same pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: 8 to 15 digits, optionally with a leading + and the usual
# separators (spaces, dots, dashes, brackets) between them.
PHONE = re.compile(r"(?<![\w+])\+?\d(?:[\s().-]?\d){7,14}(?!\w)")
REDACTED = {"email": "[email]", "phone": "[phone]", "name": "[name]"}
MIN_NAME_LENGTH = 3  # shorter names would hit ordinary words


class Anonymiser:
    """Replace sensitive values in texts and JSON values, consistently per run."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._key = secrets.token_bytes(32)
        known = sorted(
            {n.strip() for n in names if len(n.strip()) >= MIN_NAME_LENGTH},
            key=len,
            reverse=True,
        )
        self._names = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(map(re.escape, known)) + r")(?!\w)",
                re.IGNORECASE,
            )
            if known
            else None
        )

    def pseudonym(self, kind: str, value: str) -> str:
        """Return the run's stable stand-in for ``value`` of ``kind``."""
        normal = {
            "email": value.strip().casefold(),
            "phone": re.sub(r"\D", "", value),
            "name": value.strip().casefold(),
        }[kind]
        digest = hmac.new(
            self._key, f"{kind}:{normal}".encode(), hashlib.sha256
        ).hexdigest()
        if kind == "email":
            return f"user-{digest[:12]}@example.invalid"
        if kind == "phone":
            return "+000" + str(int(digest[:16], 16) % 10**10).zfill(10)
        return f"person-{digest[:10]}"

    def replace(self, kind: str, value: str, method: str) -> str:
        return REDACTED[kind] if method == "redact" else self.pseudonym(kind, value)

    def text(self, value: str, kinds: Iterable[str], method: str) -> str:
        """Replace every e-mail address, phone number or known name in ``value``."""
        kinds = set(kinds)
        if "email" in kinds:
            value = EMAIL.sub(lambda m: self.replace("email", m[0], method), value)
        if "phone" in kinds:
            value = PHONE.sub(lambda m: self.replace("phone", m[0], method), value)
        if "name" in kinds and self._names is not None:
            value = self._names.sub(lambda m: self.replace("name", m[0], method), value)
        return value

    def value(self, value: Any, kinds: Iterable[str], method: str) -> Any:
        """Anonymise a text, or every text inside a JSON value (keys stay)."""
        if isinstance(value, str):
            return self.text(value, kinds, method)
        if isinstance(value, dict):
            return {k: self.value(v, kinds, method) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, kinds, method) for v in value]
        return value

    def whole(self, value: Any, kind: str, method: str) -> Any:
        """Anonymise an identity column (a username, an e-mail) as one value."""
        if not value:
            return value
        return self.replace(kind, value, method)
