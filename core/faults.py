"""What the web tier answers when something under it fails: 503 with `Retry-After` when the database cannot be
reached, is locked past its timeout or has unapplied migrations; 507 when storage is full. Never a 500 for
these: a load balancer or client can tell "try again shortly" from a bug.

A database error can hide whether a write committed (the connection died after COMMIT was sent); writes that
clients retry are idempotent (a submit by its `client_key`), so the answer is always "retry".
"""

import errno
import logging
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape

from core.errors import DomainError

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5
MIGRATIONS_RETRY_AFTER_S = 30
DEFAULT_RETRY_AFTER_S = 10  # for a 503 raised by anything that did not say when to come back
STORAGE_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class Fault:
    status: int
    message: str
    retry_after: int | None = None


def fault_for(exc: BaseException) -> Fault | None:
    """The answer for an infrastructure failure, or None when `exc` is not one (a bug stays a 500)."""
    if isinstance(exc, OperationalError | InterfaceError):  # unreachable, killed, lock or statement timeout
        logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return Fault(
            503, "The database is unavailable or busy. Retry in a few seconds.", retry_after=DATABASE_RETRY_AFTER_S
        )
    if isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS:
        logger.error("storage full: %s", exc)
        return Fault(507, "Storage is full: nothing was saved. Ask an administrator to free space, then retry.")
    return None


def migrations_fault(apps: list[str]) -> Fault:
    return Fault(
        503,
        f"This install is being upgraded: migrations of {', '.join(apps)} are not applied yet.",
        retry_after=MIGRATIONS_RETRY_AFTER_S,
    )


def domain_retry_after(exc: DomainError) -> int | None:
    if exc.status_code == 503:
        return getattr(exc, "retry_after", None) or DEFAULT_RETRY_AFTER_S
    return None


def fault_response(request: HttpRequest, fault: Fault) -> HttpResponse:
    """JSON for the API and for clients that do not ask for HTML; a bare page (no template, no database) else."""
    if request.path.startswith("/api/") or "text/html" not in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": fault.message}, status=fault.status)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Loupe</title><h1>Please retry shortly</h1><p>{escape(fault.message)}</p>",
            status=fault.status,
        )
    if fault.retry_after is not None:
        response["Retry-After"] = str(fault.retry_after)
    return response
