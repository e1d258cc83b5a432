"""The dashboard's own views: its live parts, and the buttons that start jobs.

Each button POSTs (with the CSRF token) to a view that checks the role's
permission (403 otherwise), queues the existing django-q2 task with ids,
records the audit event and answers either with JSON (the page's script) or
with a message and a redirect to the index (no script).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path
from django.views.decorators.cache import never_cache

from backups.services.history import newest_chain
from talowa_admin import queue
from talowa_admin.dashboard import ACTIONS_BY_NAME, can_view, live_figures

LIVE_TEMPLATE = "admin/talowa_admin/dashboard/live.html"

# Each starter queues one job and returns (message, level).
Starter = Callable[[HttpRequest], tuple[str, int]]


def dashboard_urls(admin_view: Callable) -> list:
    """Return the dashboard's URLs, each wrapped by the admin site's login check."""
    return [
        path("dashboard/live/", admin_view(live), name="dashboard_live"),
        path(
            "dashboard/<slug:name>/",
            admin_view(start_job),
            name="dashboard_action",
        ),
    ]


@never_cache
def live(request: HttpRequest) -> HttpResponse:
    """Return the live parts as HTML inside JSON, and whether a job runs."""
    if not can_view(request.user):
        raise PermissionDenied
    figures = live_figures()
    html = render_to_string(LIVE_TEMPLATE, {"dashboard": figures}, request=request)
    return JsonResponse({"running": figures["running"], "html": html})


def start_job(request: HttpRequest, name: str) -> HttpResponse:
    """Start the job of the button ``name`` for a role allowed to press it."""
    action = ACTIONS_BY_NAME.get(name)
    if action is None:
        raise Http404("No such dashboard button.")
    if not (can_view(request.user) and request.user.has_perms(action.permissions)):
        raise PermissionDenied
    if request.method != "POST":
        return redirect("admin:index")
    message, level = STARTERS[name](request)
    if _wants_json(request):
        return JsonResponse(
            {"message": message, "level": messages.DEFAULT_TAGS[level]},
            status=202 if level == messages.SUCCESS else 409,
        )
    messages.add_message(request, level, message)
    return redirect("admin:index")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _back_up_now(request: HttpRequest) -> tuple[str, int]:
    queue.enqueue_and_audit(
        "backups.tasks.run_backup",
        "full",
        None,
        request.user.pk,
        name=f"full backup by {request.user.get_username()}",
        group="backups",
        request=request,
        action="backup.queue",
        details={"kind": "full", "from": "dashboard"},
    )
    return "A full backup was queued; the dashboard shows it as it runs.", (
        messages.SUCCESS
    )


def _verify(request: HttpRequest) -> tuple[str, int]:
    chain = newest_chain()
    if chain is None:
        return "There is no completed system backup to verify yet.", messages.WARNING
    ids = [backup["id"] for backup in chain["backups"]]
    queue.enqueue_and_audit(
        "backups.tasks.verify_backups",
        ids,
        request.user.pk,
        name=f"verify the chain of {chain['head']}",
        group="backups",
        request=request,
        action="backup.verify_queue",
        target=("backups.backup", chain["head"]),
        details={"backups": ids, "from": "dashboard"},
    )
    return (
        f"Verification of the chain of {chain['head']} ({len(ids)} backup(s)) "
        "was queued.",
        messages.SUCCESS,
    )


def _maintenance(request: HttpRequest) -> tuple[str, int]:
    queue.enqueue_and_audit(
        "recovery.tasks.run_maintenance",
        request.user.pk,
        name=f"maintenance by {request.user.get_username()}",
        group="recovery",
        request=request,
        action="maintenance.queue",
        details={"from": "dashboard"},
    )
    return (
        "System maintenance was queued (all four steps); Recovery › Maintenance "
        "runs shows each step’s result.",
        messages.SUCCESS,
    )


def _drill(request: HttpRequest) -> tuple[str, int]:
    queue.enqueue_and_audit(
        "recovery.tasks.restore_drill",
        request.user.pk,
        name=f"restore drill by {request.user.get_username()}",
        group="recovery",
        request=request,
        action="restore_drill.queue",
        details={"from": "dashboard"},
    )
    return "A restore drill of the newest chain was queued.", messages.SUCCESS


STARTERS: dict[str, Starter] = {
    "back-up-now": _back_up_now,
    "verify": _verify,
    "maintenance": _maintenance,
    "drill": _drill,
}
