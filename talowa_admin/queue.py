"""Hand work to the django-q2 cluster: the one place that queues tasks.

Tasks get ids, never objects, and raise on failure, so the queue admin shows
what really happened.
"""

from __future__ import annotations

from typing import Any

from django_q.tasks import async_task


def enqueue(func: str, *args, name: str, group: str, **kwargs: Any) -> str:
    """Queue ``func(*args, **kwargs)``; return the task id."""
    return async_task(func, *args, task_name=name[:100], group=group, **kwargs)


def user_by_id(user_id: int | None) -> Any:
    """Return the user a task was given by id, or None (no id, or since deleted)."""
    from django.contrib.auth import get_user_model

    if not user_id:
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def recent_results(group: str, *, limit: int = 5) -> list:
    """Return the newest finished tasks of ``group`` (django-q2's Task model).

    Their name, outcome, end and result only: the pickled arguments are not
    read (nor unpickled).
    """
    from django_q.models import Task

    tasks = Task.objects.filter(group=group).order_by("-stopped")
    return list(tasks.only("id", "name", "success", "stopped", "result")[:limit])


def queued_count() -> int | None:
    """Return how many tasks wait in the queue, when the broker can tell."""
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size()
    except Exception:  # a broker that cannot count is not an error here
        return None
