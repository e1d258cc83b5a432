from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from talowa_admin import monitoring, views

# The admin modules register here, not at start-up (talowa_admin.apps).
admin.autodiscover()

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="me", permanent=False)),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("me/", views.my_data, name="me"),
    path("me/data/", include("backups.urls")),
    path("metrics", monitoring.metrics, name="metrics"),
    path("api/status/", monitoring.status, name="api-status"),
    path("me/privacy/", include("retention.urls")),
]
