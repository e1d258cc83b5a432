"""End users' privacy page, mounted at ``/me/privacy/`` (see talowa_admin/urls.py)."""

from __future__ import annotations

from django.urls import path

from retention import views

app_name = "privacy"

urlpatterns = [
    path("", views.privacy, name="page"),
    path("preferences/preview/", views.preview_preferences, name="preview"),
    path("preferences/save/", views.save_preferences, name="save"),
    path("erase/<slug:what>/", views.erase, name="erase"),
]
