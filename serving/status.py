"""TF Serving's error model over REST: a canonical error code, its HTTP status and ``{"error": ...}``.

The mapping is TF Serving's own (``ToHTTPStatusCode`` in ``model_servers/http_server.cc``): a
client's mistake (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE) is a 400, an unknown model or
version a 404, a server fault a 500.
"""

from __future__ import annotations

HTTP_STATUS = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """An error answered as ``{"error": message}`` with the HTTP status of its canonical ``code``."""

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_STATUS[code]


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)
