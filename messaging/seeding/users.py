"""The seed users: ordinary accounts named ``seed_user_00001`` and up.

Existing accounts with those names are reused as they are, so seeding again
(``--replace``) keeps user ids stable. New ones are end users: not staff, with
an unusable password (nobody logs in as a seed user until an operator sets
one), and names and join dates derived from the seed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX

from messaging.seeding.corpus import FIRST_NAMES, LAST_NAMES
from messaging.seeding.timeline import Timeline

USERNAME_PREFIX = "seed_user_"
USER_BATCH_SIZE = 2_000
_PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def seed_username(number: int) -> str:
    """Return the username of seed user ``number`` (1-based)."""
    return f"{USERNAME_PREFIX}{number:05d}"


def ensure_users(*, count: int, seed: int, timeline: Timeline) -> tuple[list[int], int]:
    """Return the ids of seed users 1..count, creating missing ones, and how many."""
    user_model = get_user_model()
    existing = _existing_ids(user_model, count)
    rng = random.Random(f"talowa-seed:{seed}:users")
    missing = []
    for number in range(1, count + 1):
        details = _details(rng, number, timeline)  # drawn for every number
        if seed_username(number) not in existing:
            missing.append(user_model(**details))
        if len(missing) >= USER_BATCH_SIZE:
            user_model.objects.bulk_create(missing)
            missing = []
    user_model.objects.bulk_create(missing)
    created = count - len(existing)
    if created:
        existing = _existing_ids(user_model, count)
    return [existing[seed_username(n)] for n in range(1, count + 1)], created


def _existing_ids(user_model, count: int) -> dict[str, int]:
    if not count:
        return {}
    wanted = {seed_username(n) for n in range(1, count + 1)}
    rows = user_model.objects.filter(username__startswith=USERNAME_PREFIX)
    return {
        name: pk for name, pk in rows.values_list("username", "pk") if name in wanted
    }


def _details(rng: random.Random, number: int, timeline: Timeline) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    password = "".join(rng.choices(_PASSWORD_ALPHABET, k=40))
    joined = timeline.start - timedelta(seconds=int(rng.random() * 365 * 86400))
    return {
        "username": seed_username(number),
        "first_name": first,
        "last_name": last,
        "email": f"{seed_username(number)}@example.invalid",
        "password": UNUSABLE_PASSWORD_PREFIX + password,
        "is_staff": False,
        "is_superuser": False,
        "is_active": True,
        "date_joined": joined,
    }
