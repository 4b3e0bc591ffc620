"""Request and response checks that hold for every page and API endpoint."""

import functools

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from core.validation import control_character_problem


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
