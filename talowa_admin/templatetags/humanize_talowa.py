"""Template filters for what people read: ``human_size``, ``human_duration``,
``readable`` (a recorded JSON value as tables and lists)."""

from __future__ import annotations

from django import template

from talowa_admin import humanize

register = template.Library()
register.filter("human_size", humanize.human_size)
register.filter("human_duration", humanize.human_duration)
register.filter("readable", humanize.readable)
