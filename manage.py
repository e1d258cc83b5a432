#!/usr/bin/env python
"""Django's command-line utility for TALOWA Admin."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talowa_admin.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        if _may_set_up_first(sys.argv):
            _set_up_django()
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings refuse to start (production without its secrets, say): the
        # reason is the message, a traceback through Django's start adds nothing.
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"Configuration error: {' '.join(str(exc).split())}")


def _set_up_django() -> None:
    """Start Django with the garbage collector paused, then freeze what it made.

    Starting imports about 800 modules and makes about 70,000 objects that
    live as long as the process. Collecting while they are made frees
    nothing, and every later collection, the one at exit included, would
    walk them all again: together about 0.15 s of a command's 0.7 s of
    start and exit. Frozen (``gc.freeze``), the collector leaves them alone,
    and worker processes forked later share their pages. At exit, everything
    is frozen again before the interpreter's last collections.
    """
    import atexit
    import gc

    import django

    gc.disable()
    try:
        django.setup()
    finally:
        gc.freeze()
        gc.enable()
    # Registered first, so it runs last of the exit functions: what the
    # command made (boto3's service models alone are hundreds of thousands
    # of objects) is frozen too, so the interpreter's collections at exit
    # leave it to the end of the process (about 0.25 s after a storage
    # command). Every exit function still runs, and threads are still joined.
    atexit.register(gc.freeze)


def _may_set_up_first(argv: list[str]) -> bool:
    """Whether Django may be set up before it reads the command line itself.

    Not when ``--settings`` or ``--pythonpath`` is given (Django applies them
    before it sets up), and not for ``runserver``, whose autoreloader sets up
    Django in its own way so that it can wait out a broken module.
    """
    return (
        len(argv) > 1
        and argv[1] != "runserver"
        and not any(arg.startswith(("--settings", "--pythonpath")) for arg in argv)
    )


if __name__ == "__main__":
    main()
