"""The /me/data/ pages and the admin's "Export data" action."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone

import backups.admin_exports  # noqa: F401 (registers the action, as admin.py will)
from backups.models import ExportJob
from backups.services import exporting
from messaging.models import CallRecord, Message
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER
from talowa_admin.urls import urlpatterns as site_urlpatterns
from tests.backups.conftest import TELUGU

pytestmark = pytest.mark.django_db

# The project's URLs, with the admin's rebuilt after the action was registered
# (the admin binds its URLs to the model admins when they are first built).
urlpatterns = [
    path("admin/", admin.site.urls),
    *(p for p in site_urlpatterns if str(p.pattern) != "admin/"),
]
DATA = "/me/data/"


def ask(client, **fields):
    form = {
        "format": "json",
        "data_types": ["messages", "conversations"],
        "include_metadata": "on",
    } | fields
    return client.post(DATA, form)


def completed_export(user) -> ExportJob:
    result = exporting.export_user_data(user, format="json")
    return ExportJob.objects.get(pk=result.export_id)


def download_url(job: ExportJob) -> str:
    return reverse("backups:export-download", args=[exporting.download_token(job)])


# --- Logged out ----------------------------------------------------------------
def test_logged_out_visitors_are_sent_to_log_in(client, world):
    job = completed_export(world.asha)
    for url in (DATA, f"{DATA}exports/{job.pk}/", download_url(job)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


# --- The page and the request -------------------------------------------------------
def test_the_page_shows_counts_and_the_form(client, world):
    client.force_login(world.asha)
    response = client.get(DATA)

    assert response.status_code == 200
    assert response.context["counts"] == {
        "messages": 2,
        "conversations": 2,
        "call_history": 1,
        "media_files": 1,
    }
    html = response.content.decode()
    assert 'data-type="messages">2<' in html
    for value in ("json", "csv", "ndjson", "html"):
        assert f'value="{value}"' in html
    assert "You have not asked for an export yet." in html


def test_my_data_links_to_the_export_page(client, world):
    client.force_login(world.asha)
    assert f'href="{DATA}"' in client.get(reverse("me")).content.decode()


def test_asking_runs_the_export_and_the_status_page_offers_it(
    client, world, sync_tasks, django_capture_on_commit_callbacks
):
    client.force_login(world.asha)
    with django_capture_on_commit_callbacks(execute=True):
        response = ask(client)

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backups:export-status", args=[job.pk])
    status = client.get(response["Location"])
    html = status.content.decode()
    assert status.status_code == 200 and "Refresh" not in status
    assert 'data-status="completed"' in html and "Your export is ready." in html
    # Links are signed when shown: the same job and owner, any timestamp.
    assert f"/me/data/download/{job.pk}.{world.asha.pk}:" in html
    assert job.data_types == ["messages", "conversations"]
    assert AuditEvent.objects.filter(action="export.request", actor=world.asha).exists()


def test_a_queued_export_shows_its_progress_and_refreshes(client, world):
    client.force_login(world.asha)
    ask(client)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(
        status="running", progress=42, expires_at=timezone.now() + timedelta(minutes=5)
    )

    response = client.get(reverse("backups:export-status", args=[job.pk]))

    assert response["Refresh"] == "2"
    assert "Preparing your export: 42%" in response.content.decode()
    listing = client.get(DATA).content.decode()
    assert "Running (42%)" in listing and "/me/data/download/" not in listing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "xml"}, "Unknown format “xml”"),
        ({"data_types": ["messages", "contacts"]}, "Unknown data type “contacts”"),
        ({"data_types": []}, "Choose at least one kind of data to export."),
    ],
)
def test_bad_choices_are_explained_on_the_form(client, world, fields, message):
    client.force_login(world.asha)
    response = ask(client, **fields)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_refused_form_shows_what_was_chosen_not_the_blank_form(client, world):
    client.force_login(world.asha)
    html = ask(client, format="csv", data_types=[]).content.decode()
    assert 'value="csv" id="id_format_1" required checked>' in html
    assert 'value="html" id="id_format_3" required>' in html  # not the initial
    assert 'value="messages" id="id_data_types_0" aria-invalid="true">' in html


def test_the_blank_forms_choices_are_rendered_once_the_same_each_time(client, world):
    from django.test.signals import template_rendered

    client.force_login(world.asha)
    first = client.get(DATA).content.decode()
    rendered = []

    def seen(sender, template, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(seen)
    try:
        again = client.get(DATA).content.decode()
    finally:
        template_rendered.disconnect(seen)
    assert not [name for name in rendered if name.startswith("django/forms/")]
    assert 'value="html" id="id_format_3" required checked>' in again
    blank = client.get(DATA).context["form"]
    for bound_field in (blank["format"], blank["data_types"], blank["scope"]):
        for choice in bound_field:
            assert str(choice.tag()) in first
            assert str(choice.tag()) in again


def test_a_second_export_waits_for_the_first(client, world):
    client.force_login(world.asha)
    ask(client)
    response = ask(client, format="csv")

    assert response.status_code == 400
    assert "An export of asha&#x27;s data is already being prepared" in (
        response.content.decode()
    )
    assert ExportJob.objects.count() == 1


def test_the_daily_limit_is_explained(client, world, settings):
    settings.TALOWA_EXPORT_DAILY_LIMIT = 1
    client.force_login(world.asha)
    ask(client)
    ExportJob.objects.update(status="completed")
    response = ask(client)

    assert response.status_code == 400
    assert "You have asked for 1 exports in the last 24 hours" in (
        response.content.decode()
    )


# --- Downloads ------------------------------------------------------------------------
def test_the_owner_downloads_a_zip_and_it_is_audited(client, world):
    job = completed_export(world.asha)
    client.force_login(world.asha)
    response = client.get(download_url(job))
    data = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="talowa-export-asha-'
    )
    assert response["Cache-Control"] == "private, no-store"
    assert int(response["Content-Length"]) == len(data) == job.size_bytes
    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("export.json"))
    assert TELUGU in {m["body"] for m in document["messages"]}
    event = AuditEvent.objects.get(action="export.download")
    assert event.actor == world.asha and event.target_id == str(job.pk)
    assert event.source_address == "127.0.0.1"


def test_someone_elses_export_answers_404(client, world):
    job = completed_export(world.asha)
    client.force_login(world.ravi)

    assert client.get(download_url(job)).status_code == 404
    assert (
        client.get(reverse("backups:export-status", args=[job.pk])).status_code == 404
    )
    assert not AuditEvent.objects.filter(action="export.download").exists()


def test_a_tampered_link_answers_404(client, world):
    job = completed_export(world.asha)
    token = exporting.download_token(job)
    client.force_login(world.asha)

    for forged in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token.replace(f"{job.pk}.", f"{job.pk + 1}.", 1),
        "nonsense",
    ):
        url = reverse("backups:export-download", args=[forged])
        assert client.get(url).status_code == 404


def test_an_expired_link_shows_a_clear_page(client, world, monkeypatch):
    job = completed_export(world.asha)
    long_ago = int(time.time()) - 8 * 24 * 3600
    monkeypatch.setattr(
        signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(long_ago)
    )
    url = download_url(job)
    monkeypatch.undo()
    client.force_login(world.asha)

    response = client.get(url)

    assert response.status_code == 410
    html = response.content.decode()
    assert "This download has expired" in html and "ask for a new export" in html
    client.force_login(world.ravi)
    assert client.get(url).status_code == 404


def test_an_expired_export_shows_the_same_page(client, world):
    job = completed_export(world.asha)
    exporting.cleanup_expired_exports(now=job.expires_at + timedelta(seconds=1))
    client.force_login(world.asha)

    assert client.get(download_url(job)).status_code == 410
    status = client.get(reverse("backups:export-status", args=[job.pk]))
    assert "This export has expired" in status.content.decode()


# --- The admin ----------------------------------------------------------------------
@pytest.mark.urls(__name__)
def test_operators_export_users_through_the_admin_action(
    client, world, role_user, django_capture_on_commit_callbacks, sync_tasks
):
    operator = role_user(BACKUP_OPERATOR)
    client.force_login(operator)
    changelist = reverse("admin:auth_user_changelist")
    chosen = [world.asha.pk, world.meena.pk]

    page = client.get(changelist)
    assert page.status_code == 200 and 'value="export_data"' in page.content.decode()
    form = client.post(
        changelist, {"action": "export_data", "_selected_action": chosen}
    )
    assert form.status_code == 200 and "Queue exports" in form.content.decode()
    assert not ExportJob.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            changelist,
            {
                "action": "export_data",
                "_selected_action": chosen,
                "apply": "yes",
                "format": "html",
                "data_types": ["messages", "media_files"],
            },
            follow=True,
        )

    assert "Queued 2 export(s)" in done.content.decode()
    jobs = ExportJob.objects.order_by("user__username")
    assert [(j.user.username, j.status, j.requested_by) for j in jobs] == [
        ("asha", "completed", operator),
        ("meena", "completed", operator),
    ]
    assert jobs[0].include_metadata is False  # an unticked box


@pytest.mark.urls(__name__)
def test_viewers_have_no_export_action_and_job_records_are_read_only(
    client, world, role_user
):
    completed_export(world.asha)
    viewer = role_user(BACKUP_VIEWER)
    client.force_login(viewer)
    jobs_page = client.get(reverse("admin:backups_exportjob_changelist"))

    assert jobs_page.status_code == 200
    assert "asha" in jobs_page.content.decode()
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    operator = role_user(BACKUP_OPERATOR)
    client.force_login(operator)
    job = ExportJob.objects.get()
    change = client.get(reverse("admin:backups_exportjob_change", args=[job.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    refused = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "export_data", "_selected_action": [world.asha.pk]},
    )
    assert refused.status_code == 200  # the action form, not a 403
    client.force_login(role_user(BACKUP_VIEWER))
    assert (
        client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "export_data", "_selected_action": [world.asha.pk]},
        ).status_code
        == 403
    )


# --- What a page costs ---------------------------------------------------------------
def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_owners_pages_take_a_fixed_handful_of_queries(client, world):
    """The session, the user, then: /me/ one statement of counts; /me/data/
    the unfinished exports (to fail dead ones), the list, the counts."""
    first = completed_export(world.asha)
    client.force_login(world.asha)
    small = [page_queries(client, url) for url in ("/me/", DATA)]
    assert small == [3, 5]
    # More of everything: more exports, messages, calls; still as many queries.
    for _ in range(3):
        completed_export(world.asha)
    for n in range(20):
        Message.objects.create(
            conversation=world.direct, sender=world.asha, kind="regular", body=f"{n}"
        )
    CallRecord.objects.create(
        caller=world.meena,
        callee=world.asha,
        status="missed",
        started_at=first.created_at,
    )
    assert [page_queries(client, url) for url in ("/me/", DATA)] == small
    counts = client.get(DATA).context["counts"]
    assert (counts["messages"], counts["call_history"]) == (22, 2)


def test_a_download_reads_the_job_with_its_owner_and_audits_it(client, world):
    job = completed_export(world.asha)
    client.force_login(world.asha)
    with CaptureQueriesContext(connection) as queries:
        page_queries(client, download_url(job))
    users = [q for q in queries if 'FROM "auth_user"' in q["sql"]]
    assert len(users) == 1  # the session's user; the job's owner came joined
    assert AuditEvent.objects.filter(action="export.download").count() == 1
