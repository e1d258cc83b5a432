"""The production storage of static files: whitenoise's URLs, remembered."""

from __future__ import annotations

import json

import pytest
from whitenoise.storage import CompressedManifestStaticFilesStorage

from talowa_admin.staticfiles import StaticFilesStorage


@pytest.fixture
def collected(tmp_path):
    manifest = {"paths": {"talowa/site.css": "talowa/site.0a1b2c.css"}}
    (tmp_path / "staticfiles.json").write_text(
        json.dumps(manifest | {"version": "1.1", "hash": "0a1b2c"})
    )
    return tmp_path


def test_the_urls_are_whitenoises_worked_out_once(collected):
    where = {"location": collected, "base_url": "/static/"}
    ours = StaticFilesStorage(**where)
    theirs = CompressedManifestStaticFilesStorage(**where)
    assert ours.url("talowa/site.css") == theirs.url("talowa/site.css")
    assert ours.url("talowa/site.css") == "/static/talowa/site.0a1b2c.css"
    ours.hashed_files.clear()  # the manifest is not read again
    assert ours.url("talowa/site.css") == "/static/talowa/site.0a1b2c.css"


def test_a_file_missing_from_the_manifest_is_refused_every_time(collected):
    storage = StaticFilesStorage(location=collected, base_url="/static/")
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            storage.url("talowa/missing.css")
