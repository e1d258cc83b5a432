"""End users' pages for their own data: counts, exports, downloads.

Thin: each view parses the request, calls one service and renders. Someone
else's export, a forged link or an export not ready answers 404, the same as
one that does not exist.
"""

from __future__ import annotations

from functools import cache

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods

from backups.exports import (
    SCOPE_LABELS,
    ExportError,
    ExportNotFound,
    ExportUnavailable,
)
from backups.exports.jobs import UNFINISHED
from backups.forms import ExportRequestForm
from backups.services import exporting
from messaging.selectors import user_data_counts

STATUS_REFRESH_SECONDS = 2
NOUNS = {
    "messages": "messages",
    "conversations": "conversations",
    "call_history": "calls",
    "media_files": "media files",
}


@login_required
@require_http_methods(["GET", "POST"])
def my_data(request: HttpRequest) -> HttpResponse:
    """Show what we hold about the user and their exports; take a request."""
    form = ExportRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = exporting.request_export(
                user=request.user,
                format=form.cleaned_data["format"],
                data_types=form.cleaned_data["data_types"],
                include_metadata=form.cleaned_data["include_metadata"],
                scope=form.cleaned_data["scope"],
                request=request,
            )
        except ExportError as exc:
            form.add_error(None, capfirst(str(exc)) + ".")
        else:
            messages.success(request, "Your export is being prepared.")
            return redirect("backups:export-status", job_id=job.pk)
    jobs = exporting.exports_of(user=request.user)
    context = {
        "counts": user_data_counts(user=request.user),
        "form": form,
        "choices": _choices(form) if form.is_bound else _blank_choices(),
        "exports": [(job, _download_token(job)) for job in jobs],
    }
    return render(request, "me/data.html", context, status=400 if form.errors else 200)


def _choices(form: ExportRequestForm) -> str:
    """The form's choices (format, messages, data) with its errors, as HTML."""
    return mark_safe(  # a template's output, escaped there
        render_to_string("me/_export_choices.html", {"form": form}).strip()
    )


@cache
def _blank_choices() -> str:
    """The choices of the form not yet filled in, the same on every page load.

    Rendered once per process: its eleven radio buttons and check boxes,
    each a template of Django's form renderer, were a third of the page.
    """
    return _choices(ExportRequestForm())


@login_required
@require_GET
def export_status(request: HttpRequest, job_id: int) -> HttpResponse:
    """Show one export's progress; refresh until it ends."""
    try:
        job = exporting.export_of(user=request.user, job_id=job_id)
    except ExportNotFound as exc:
        raise Http404(str(exc)) from exc
    unfinished = job.status in UNFINISHED
    details = job.files[0] if job.files else {}
    context = {
        "job": job,
        "token": _download_token(job),
        "unfinished": unfinished,
        "details": details,
        "counts": [(NOUNS[name], n) for name, n in details.get("counts", {}).items()],
        "chosen": [NOUNS[name] for name in job.data_types],
        "scope": SCOPE_LABELS[job.scope],
    }
    response = render(request, "me/export_status.html", context)
    if unfinished:
        response["Refresh"] = str(STATUS_REFRESH_SECONDS)
    return response


@login_required
@require_GET
def download_export(request: HttpRequest, token: str) -> HttpResponse:
    """Stream an export archive to its owner."""
    try:
        download = exporting.open_download(
            token=token, user=request.user, request=request
        )
    except ExportNotFound as exc:
        raise Http404(str(exc)) from exc
    except ExportUnavailable as exc:
        return render(
            request, "me/export_expired.html", {"reason": str(exc)}, status=410
        )
    response = FileResponse(
        download.handle,
        as_attachment=True,
        filename=download.filename,
        content_type=download.content_type,
    )
    response["Content-Length"] = str(download.size)
    response["Cache-Control"] = "private, no-store"
    return response


def _download_token(job) -> str | None:
    return exporting.download_token(job) if exporting.is_downloadable(job) else None
