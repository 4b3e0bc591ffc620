"""Fail closed: refuse to serve while migrations are not applied, and answer database or storage failures of
any view (pages included; DRF views get the same answers from core.api.exceptions) with 503 or 507."""

import sys

from django.urls import reverse
from django.views import defaults

from core import selectors, storage
from core.faults import DEFAULT_RETRY_AFTER_S, fault_for, fault_response, migrations_fault


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
