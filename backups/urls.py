"""End users' data pages, mounted at ``/me/data/`` (see talowa_admin/urls.py)."""

from __future__ import annotations

from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("", views.my_data, name="data"),
    path("exports/<int:job_id>/", views.export_status, name="export-status"),
    path("download/<str:token>/", views.download_export, name="export-download"),
]
