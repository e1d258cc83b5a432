"""Hand work to the django-q2 cluster: the one place that queues tasks.

Tasks get ids, never objects, and raise on failure, so the queue admin shows
what really happened. A job an administrator starts from a page is queued and
audited in one call (``enqueue_and_audit``), so none is queued unrecorded.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django_q.tasks import async_task

from talowa_admin.audit import record_audit_event


def enqueue(func: str, *args, name: str, group: str, **kwargs: Any) -> str:
    """Queue ``func(*args, **kwargs)``; return the task id."""
    return async_task(func, *args, task_name=name[:100], group=group, **kwargs)


def enqueue_and_audit(
    func: str,
    *args: Any,
    name: str,
    group: str,
    request: HttpRequest,
    action: str,
    target: Any = None,
    details: dict | None = None,
    task_in_details: bool = True,
) -> str:
    """Queue ``func(*args)`` and record the audit event ``action``; return the task id.

    The event is the requesting user's, on ``target``, with ``details`` and,
    unless ``task_in_details`` is false, the task id under ``"task"``.
    """
    task_id = enqueue(func, *args, name=name, group=group)
    if task_in_details:
        details = {**(details or {}), "task": task_id}
    record_audit_event(action=action, target=target, details=details, request=request)
    return task_id


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
    """Return how many tasks wait in the queue, when the broker can tell.

    The ORM broker's own count (``ORM.queue_size``) is the same query, but
    the broker, built and asked, closes the database connection twice
    (``close_old_connections``): in a request, that handed the connection
    back to the pool and the next query borrowed and checked it again.
    """
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    try:
        # get_broker()'s order: the ORM broker unless another one is named.
        if Conf.ORM and not (
            Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict)
        ):
            from django_q.models import OrmQ

            waiting = OrmQ.objects.using(Conf.ORM).filter(
                key=Conf.CLUSTER_NAME, lock__lte=timezone.now()
            )
            return waiting.count()
        return get_broker().queue_size()
    except Exception:  # a broker that cannot count is not an error here
        return None
