"""Pages for end users: their own data, nobody else's."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from messaging import selectors


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """Show the logged-in user what we hold about them."""
    counts = selectors.user_data_counts(user=request.user)
    return render(request, "me/index.html", {"counts": counts})
