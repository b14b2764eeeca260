"""One application-error hierarchy. The API turns each into {"message", "code", "extra"}.

Scan outcomes are *not* errors (DESIGN.md §7): they are 200 results with a reason. Messages are
plain Dutch msgids, read in the language of the request (the pages show them to hosts, tablets
and consultants); the `code` is what programs go by.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class AppError(Exception):
    status: int = 400
    code: str = "error"
    default_message: str = _("Dit verzoek konden we niet verwerken.")

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
    default_message = _("Dit verzoek is niet geldig.")


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"
    default_message = _("Log eerst in.")


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_message = _("Dit mag u niet doen.")


class WrongRole(Forbidden):
    code = "wrong_role"
    default_message = _("Dit mag niet met uw rol.")

    def __init__(self, roles, message: str | None = None) -> None:
        super().__init__(message, extra={"needs": list(roles)})


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = _("Niet gevonden.")


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_message = _("Er is intussen iets veranderd. Laad de pagina opnieuw en probeer het nog eens.")


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    default_message = _("Te veel pogingen. Wacht even en probeer het dan opnieuw.")

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(AppError):
    """The database cannot be reached for a moment: nothing was committed, so the same request
    (same nonce) may simply be sent again."""

    status = 503
    code = "unavailable"
    default_message = _("De verbinding met de database is even weg. Probeer het opnieuw.")
    retry_after = 2  # seconds: API clients (the scanner's queue) retry on their own

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, extra={"retry_after": self.retry_after})
