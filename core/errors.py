"""Domain errors raised by services; the API turns each into a precise 4xx answer."""


class DomainError(Exception):
    """A request that cannot be carried out as asked. `field` names the input at fault, if one is."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = 400


class PermissionDenied(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class ServiceUnavailable(DomainError):
    """A dependency (the task broker) cannot be reached; the request changed nothing and can be retried.
    The answer carries `Retry-After: retry_after` (seconds)."""

    status_code = 503
    retry_after = 10


class InsufficientStorage(DomainError):
    """Storage is full: nothing was kept, and the same request can succeed once space is freed."""

    status_code = 507
