"""One error shape for the whole API: {"detail": message} or {"field": [messages]}, always a 4xx for bad input;
a 503 with `Retry-After` when a dependency is down, a 507 when storage is full (core.faults)."""

from typing import Any

import pydantic
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import DomainError
from core.faults import domain_retry_after, fault_for


def pydantic_errors(error: pydantic.ValidationError, prefix: str = "") -> dict[str, list[str]]:
    """Pydantic's error list as {dotted.field.path: [messages]}."""
    fields: dict[str, list[str]] = {}
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "") or "non_field_errors"
        fields.setdefault(path, []).append(item["msg"])
    return fields


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return Response(
            {"detail": f"The request body is larger than this server accepts ({limit_mb:g} MiB)."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DomainError):
        body = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        retry_after = domain_retry_after(exc)
        return Response(
            body, status=exc.status_code, headers={"Retry-After": str(retry_after)} if retry_after else None
        )
    fault = fault_for(exc)
    if fault is not None:
        set_rollback()
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        return Response({"detail": fault.message}, status=fault.status, headers=headers)
    if isinstance(exc, pydantic.ValidationError):
        return Response(pydantic_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    return drf_exception_handler(exc, context)
