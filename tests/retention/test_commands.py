"""``apply_retention``: the JSON contract, restore of a batch, one-line failures."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from messaging.models import Message
from retention.types import RETENTION_TYPES
from tests.retention.conftest import aged_message

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command("apply_retention", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_apply_retention_prints_the_contract_and_restores_a_batch(people):
    w = people
    aged_message(w.group, None, kind="system", days=45)
    aged_message(w.group, None, kind="system", days=5)
    dry = _run("--dry-run")
    assert set(dry) >= {"run", "dry_run", "deleted", "batch", "seconds"}
    assert dry["dry_run"] is True and dry["batch"] is None
    assert list(dry["deleted"]) == list(RETENTION_TYPES)
    assert dry["deleted"]["system_messages"] == 1
    real = _run()
    assert real["deleted"] == dry["deleted"] and real["batch"] is not None
    assert Message.objects.count() == 1
    restored = _run("--restore-batch", str(real["batch"]))
    assert restored["restored"]["message"] == 1
    assert Message.objects.count() == 2


def test_an_unknown_batch_fails_with_one_line(people):
    with pytest.raises(CommandError, match="archive batch 4242 does not exist"):
        call_command("apply_retention", "--restore-batch", "4242", "--json")
