"""Django's ``diffsettings``, with secret values masked as on the debug page."""

from __future__ import annotations

from django.core.management.commands import diffsettings
from django.views.debug import get_default_exception_reporter_filter


class Command(diffsettings.Command):
    help = (
        "Display differences between the current settings and Django's defaults. "
        "Secrets are masked (talowa_admin.redaction)."
    )

    def handle(self, **options):
        from django.conf import Settings, global_settings, settings

        if not settings.configured:
            settings._setup()
        default = options["default"]
        user_settings = _masked(settings._wrapped)
        default_settings = _masked(Settings(default) if default else global_settings)
        output_func = {
            "hash": self.output_hash,
            "unified": self.output_unified,
        }[options["output"]]
        return "\n".join(output_func(user_settings, default_settings, **options))


def _masked(module) -> dict[str, _Shown]:
    """Return ``diffsettings.module_to_dict(module)`` with secrets masked."""
    cleanse = get_default_exception_reporter_filter().cleanse_setting
    return {
        name: _Shown(
            repr(cleanse(name, getattr(module, name))), repr(getattr(module, name))
        )
        for name in dir(module)
        if name.isupper() and not name.startswith("_")
    }


class _Shown(str):
    """A setting as printed (masked), compared by its real value.

    So a secret that differs from the default is still listed as changed.
    """

    def __new__(cls, shown: str, real: str) -> _Shown:
        value = super().__new__(cls, shown)
        value.real = real
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Shown) and self.real == other.real

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__
