"""Checks and answers that hold for every page and API endpoint: fail closed while migrations are not applied,
answer database or storage failures of any view with 503 or 507 (DRF views get the same answers from
core.api.exceptions), refuse control characters in query strings, and send the Content-Security-Policy."""

import functools
import sys

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views import defaults

from core import selectors, storage
from core.faults import DEFAULT_RETRY_AFTER_S, fault_for, fault_response, migrations_fault
from core.validation import control_character_problem


class ServiceFaultsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.health_path = reverse("api:health")

    def __call__(self, request):
        # Health answers even then: it says which apps wait for their migrations.
        if request.path_info != self.health_path:
            try:
                unapplied = selectors.migration_state.unapplied_apps()
            except Exception as exc:
                fault = fault_for(exc)
                if fault is None:
                    raise
                return fault_response(request, fault)
            if unapplied:
                return fault_response(request, migrations_fault(unapplied))
        with storage.saves_recorded() as saved:
            response = self.get_response(request)
            if response.status_code == 507:  # storage filled up part-way: drop what this request did save
                storage.saved_delete(saved)
        if response.status_code == 503 and not response.has_header("Retry-After"):
            response["Retry-After"] = str(DEFAULT_RETRY_AFTER_S)
        return response

    def process_exception(self, request, exception):
        fault = fault_for(exception)
        return None if fault is None else fault_response(request, fault)


def server_error(request):
    """handler500: a failure outside any view (a middleware writing the session when the database went away)
    still gets its 503 or 507; anything else is the plain 500 page."""
    fault = fault_for(sys.exception()) if sys.exception() is not None else None
    return defaults.server_error(request) if fault is None else fault_response(request, fault)


class QueryStringCheckMiddleware:
    """Refuses query parameters that carry control characters (a 400 naming the parameter), before any view
    hands them to the database: PostgreSQL raises on NUL in text, so `?search=%00` was a 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        for key, values in request.GET.lists():
            for value in (key, *values):
                problem = control_character_problem(value)
                if problem:
                    return _bad_request(request, key, problem)
        return self.get_response(request)


def _bad_request(request, field: str, problem: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({field: [f"This parameter {problem}."]}, status=400)
    return HttpResponse(f"The parameter {field!r} {problem}.", status=400, content_type="text/plain")


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY with every response that has no policy of its own: a browser then
    runs only our static scripts and styles, so markup injected into a page cannot run code."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


def content_security_policy(policy: str):
    """A view decorator: this view's pages get `policy` instead of the default (third-party pages we cannot
    change, such as the API docs)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response["Content-Security-Policy"] = policy
            return response

        return wrapped

    return decorate
