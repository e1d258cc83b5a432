"""The production storage of static files: whitenoise's, with URLs remembered.

Every page links a dozen or more static files (the admin's two dozen), and
each ``{% static %}`` looked the hashed name up in the manifest and built its
URL again. The manifest is read when the process starts and does not change
while it runs (a deploy collects the files and restarts the workers), so
each file's URL is worked out once per process.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name, force=False) -> str:
        if force:
            return super().url(name, force)
        try:
            return self._urls[name]
        except KeyError:  # a missing file still raises every time
            url = self._urls[name] = super().url(name)
            return url
