"""One application-error hierarchy. The API turns each into {"message", "code", "extra"}.

Scan outcomes are *not* errors (DESIGN.md §7): they are 200 results with a reason.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "error"
    default_message: str = "The request could not be handled."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.message = str(message or self.default_message)
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "extra": self.extra}


class Invalid(AppError):
    status = 422
    code = "invalid"
    default_message = "The request is not valid."


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"
    default_message = "Log in first."


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_message = "You have no right to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_message = "The state changed; reload and try again."


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    default_message = "Too many attempts. Wait a moment and try again."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(AppError):
    """The database cannot be reached for a moment: nothing was committed, so the same request
    (same nonce) may simply be sent again."""

    status = 503
    code = "unavailable"
    default_message = "De verbinding met de database is even weg. Probeer het opnieuw."
    retry_after = 2  # seconds: API clients (the scanner's queue) retry on their own

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, extra={"retry_after": self.retry_after})
