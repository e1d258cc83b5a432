"""End users' privacy page, mounted at ``/me/privacy/`` (talowa_admin/urls.py).

Thin, like ``/me/data/``: each view reads the logged-in user's request, calls
the retention services for that user only, and renders. Nothing here takes a
user id from the request, so nobody sees or changes another user's data.

Changing preferences takes two steps: a preview ("this would delete N of
your messages now") whose figures are signed into a token, then a save that
accepts only a token of this user's preview, so nothing is saved unseen.
Erasing data takes a confirmation page, then a POST; a legal hold refuses it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging.selectors import user_data_counts
from retention.exceptions import InvalidRetentionPolicy, LegalHoldActive
from retention.privacy_forms import ERASURE_CHOICES, ErasureChoice, PreferencesForm
from retention.services import (
    backups_holding_user_data,
    erase_user_data,
    get_effective_policy,
    preview_policy_change,
    set_retention_policy,
)
from retention.services.backup_horizon import backups_hold_until
from retention.types import RETENTION_TYPE_LABELS, RETENTION_TYPES

PREVIEW_SALT = "retention.privacy.preview"
PREVIEW_MAX_AGE = 30 * 60  # seconds a preview may be saved after it was shown
MESSAGE_TYPES = tuple(t for t in RETENTION_TYPES if t.endswith("_messages"))
CALL_TYPES = ("call_history", "missed_calls")


@login_required
@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """Show the user's retention, their preferences and the backups holding them."""
    effective = get_effective_policy(request.user)
    return _render_page(request, effective, PreferencesForm(effective=effective))


@login_required
@require_POST
def preview_preferences(request: HttpRequest) -> HttpResponse:
    """Check new preferences and show what saving them would delete now."""
    effective = get_effective_policy(request.user)
    form = PreferencesForm(request.POST, effective=effective)
    if not form.is_valid():
        return _render_page(request, effective, form, status=400)
    try:
        counts = preview_policy_change(
            entity_id=request.user.pk,
            entity_type="user",
            retention_periods=form.periods,
        )
    except InvalidRetentionPolicy as exc:
        form.add_policy_errors(exc)
        return _render_page(request, effective, form, status=400)
    token = signing.dumps(
        {"user": request.user.pk, "periods": form.periods}, salt=PREVIEW_SALT
    )
    rows = [
        {
            "type": rtype,
            "label": RETENTION_TYPE_LABELS[rtype],
            "now": effective[rtype]["days"],
            "held": effective[rtype]["held"],
            "current": effective[rtype]["user_days"],
            "new": form.periods.get(rtype),
            "deleted": counts.get(rtype, 0),
        }
        for rtype in RETENTION_TYPES
    ]
    context = {"rows": rows, "token": token, "summary": deletion_summary(counts)}
    return render(request, "me/privacy_preview.html", context)


@login_required
@require_POST
def save_preferences(request: HttpRequest) -> HttpResponse:
    """Save the preferences of this user's own preview (audited)."""
    try:
        claim = signing.loads(
            request.POST.get("token", ""), salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE
        )
    except signing.BadSignature:
        claim = None
    if not claim or claim.get("user") != request.user.pk:
        return _refuse(
            request,
            "This preview has expired or is not yours: preview your change again, "
            "then save it.",
        )
    try:
        set_retention_policy(
            entity_id=request.user.pk,
            entity_type="user",
            retention_periods=claim["periods"],
            actor=request.user,
            request=request,
        )
    except InvalidRetentionPolicy as exc:
        problems = "; ".join(m for ms in exc.message_dict.values() for m in ms)
        return _refuse(request, f"Not saved: {problems}")
    messages.success(request, "Your retention preferences are saved.")
    return redirect("privacy:page")


@login_required
@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest, what: str) -> HttpResponse:
    """Confirm, then erase one kind of the user's data now (refused under a hold)."""
    choice = ERASURE_CHOICES.get(what)
    if choice is None:
        raise Http404("no such kind of data")
    holding = backups_holding_user_data(request.user)
    context: dict[str, Any] = {
        "choice": choice,
        "count": user_data_counts(user=request.user)[choice.count_key],
        "held": _held(request.user, choice),
        "holding": holding,
        "hold_until": backups_hold_until(holding),
    }
    if request.method == "GET":
        return render(request, "me/privacy_erase.html", context)
    try:
        result = erase_user_data(
            user=request.user,
            retention_types=list(choice.retention_types),
            actor=request.user,
            request=request,
        )
    except LegalHoldActive:
        context["refused"] = True
        return render(request, "me/privacy_erase.html", context, status=409)
    messages.success(request, erasure_report(choice, result, holding))
    return redirect("privacy:page")


# --- Words ------------------------------------------------------------------
def bounds_in_words(legal_min: int | None, legal_max: int | None) -> str:
    """Say a type's legal bounds the way a user reads them."""
    if legal_min is not None and legal_max is not None:
        return (
            f"The law requires keeping it at least {legal_min} days and allows "
            f"at most {legal_max} days."
        )
    if legal_min is not None:
        return f"The law requires keeping it at least {legal_min} days."
    if legal_max is not None:
        return f"The law allows keeping it at most {legal_max} days."
    return "No law sets a limit."


def deletion_summary(counts: dict[str, int]) -> str:
    """Say what a preview would delete: "this would delete N of your messages now"."""
    messages_n = sum(counts.get(t, 0) for t in MESSAGE_TYPES)
    calls_n = sum(counts.get(t, 0) for t in CALL_TYPES)
    media_n = counts.get("media_files", 0)
    if not (messages_n or calls_n or media_n):
        return "Saving this would delete none of your data now."
    return (
        f"Saving this would delete {messages_n} of your messages, {calls_n} of "
        f"your calls and {media_n} of your media files now."
    )


def erasure_report(
    choice: ErasureChoice, result: dict[str, Any], holding: list[dict]
) -> str:
    """Say what an erasure deleted and until when old backups still hold it."""
    deleted = sum(result["deleted"].values())
    until = result["backups_hold_until"]
    if not holding:
        backups = "No backup holds them."
    elif until is None:
        backups = (
            "Old backups still hold them until those backups expire; when cannot "
            "be predicted now (see the list of backups below)."
        )
    else:
        backups = (
            "Old backups still hold them until "
            f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
            "when the last of those backups expires."
        )
    return f"Deleted your {choice.label}: {deleted} item(s). {backups}"


# --- Helpers ------------------------------------------------------------------
def _render_page(
    request: HttpRequest,
    effective: dict,
    form: PreferencesForm,
    *,
    status: int = 200,
    problem: str = "",
) -> HttpResponse:
    rows = [
        {
            "type": rtype,
            "label": RETENTION_TYPE_LABELS[rtype],
            "bounds": bounds_in_words(policy["legal_min"], policy["legal_max"]),
            "field": form[rtype],
            **policy,
        }
        for rtype, policy in effective.items()
    ]
    context = {
        "rows": rows,
        "form": form,
        "problem": problem,
        "held": any(policy["held"] for policy in effective.values()),
        "erasures": list(ERASURE_CHOICES.values()),
        "backups": backups_holding_user_data(request.user),
    }
    return render(request, "me/privacy.html", context, status=status)


def _refuse(request: HttpRequest, message: str) -> HttpResponse:
    effective = get_effective_policy(request.user)
    form = PreferencesForm(effective=effective)
    return _render_page(request, effective, form, status=400, problem=message)


def _held(user: Any, choice: ErasureChoice) -> bool:
    effective = get_effective_policy(user)
    return any(effective[rtype]["held"] for rtype in choice.retention_types)
