"""The API root: one NinjaAPI mounting each app's router, one error handler, session auth."""

from __future__ import annotations

import json
import logging

from django.contrib.auth import authenticate, login, logout
from django.db.utils import InterfaceError as DatabaseInterfaceError
from django.db.utils import OperationalError as DatabaseOperationalError
from django.http import StreamingHttpResponse
from django.middleware.csrf import get_token
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from backend.audit import audit_record
from backend.auth import COORDINATOR, require_role, user_auth, user_roles
from backend.csvutil import csv_line
from backend.models import AuditEvent
from backend.errors import AppError, Unauthenticated, Unavailable
from backend.schemas import AuditEventOut, ErrorOut, LoginIn, MeOut, OkOut

log = logging.getLogger(__name__)

api = NinjaAPI(
    title="Vrijwilligersmarkt API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request, status: int, message: str, code: str, extra: dict | None = None, headers: dict | None = None):
    response = api.create_response(request, {"message": message, "code": code, "extra": extra or {}}, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


@api.exception_handler(AppError)
def handle_app_error(request, exc: AppError):
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return _error(request, exc.status, exc.message, exc.code, exc.extra, headers)


@api.exception_handler(NinjaValidationError)
def handle_validation_error(request, exc: NinjaValidationError):
    return _error(request, 422, _("De gegevens in het verzoek zijn niet geldig."), "invalid",
                  {"errors": exc.errors})


@api.exception_handler(OverflowError)
def handle_number_out_of_range(request, exc: OverflowError):
    # An id in a path or body beyond what the database holds (SQLite refuses to bind it).
    return _error(request, 422, _("Een getal in het verzoek is te groot."), "invalid",
                  {"errors": [{"type": "number_too_large", "msg": "number out of range"}]})


@api.exception_handler(AuthenticationError)
def handle_authentication_error(request, exc):
    return _error(request, 401, _("Log eerst in (of koppel dit apparaat opnieuw)."), "unauthenticated")


@api.exception_handler(DatabaseOperationalError)
@api.exception_handler(DatabaseInterfaceError)
def handle_database_unavailable(request, exc):
    # The database is briefly unreachable (restart, failover, a cut connection). Nothing was
    # committed, so the client may safely retry the same request (same nonce): 503, never a
    # false "ok". Django drops the broken connection when the request finishes.
    log.warning("database unavailable: %s", exc)
    return handle_app_error(request, Unavailable())


@api.exception_handler(HttpError)
def handle_http_error(request, exc: HttpError):
    if exc.status_code == 400:
        # ninja's one 400: a body it cannot parse (not JSON, broken JSON). DESIGN.md §7 answers
        # a malformed body with 422, as it does a body of the wrong shape; same code, same form.
        return _error(request, 422, _("De gegevens in het verzoek zijn geen geldige JSON."), "invalid",
                      {"errors": [{"type": "json_invalid", "loc": ["body"], "msg": "not valid JSON"}]})
    code = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "error")
    return _error(request, exc.status_code, str(exc), code)


auth_router = Router(tags=["auth"])


@auth_router.post("auth/login", response={200: MeOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}, auth=None)
def auth_login(request, payload: LoginIn):
    from backend.ratelimit import login_guard

    with login_guard(request, payload.username):
        user = authenticate(request, username=payload.username, password=payload.password)
        if user is None:
            raise Unauthenticated(_("De gebruikersnaam of het wachtwoord klopt niet."), code="invalid_credentials")
    login(request, user)
    get_token(request)  # sets the csrftoken cookie for the following unsafe requests
    return {"username": user.get_username(), "roles": sorted(user_roles(user))}


@auth_router.post("auth/logout", response={200: OkOut, 401: ErrorOut, 403: ErrorOut}, auth=user_auth)
def auth_logout(request):
    logout(request)
    return {"ok": True}


@auth_router.get("auth/me", response={200: MeOut, 401: ErrorOut}, auth=user_auth)
def auth_me(request):
    get_token(request)
    return {"username": request.auth.get_username(), "roles": sorted(user_roles(request.auth))}


audit_router = Router(tags=["audit"])


@audit_router.get("audit", response={200: list[AuditEventOut], 401: ErrorOut, 403: ErrorOut}, auth=user_auth)
def audit_list(request, object_type: str | None = None, object_id: str | None = None, limit: int = 200):
    require_role(request.auth, COORDINATOR)
    qs = AuditEvent.objects.all()
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return list(qs[: max(1, min(limit, 5000))])


@audit_router.get("audit.csv", response={200: None, 401: ErrorOut, 403: ErrorOut}, auth=user_auth)
def audit_csv(request):
    require_role(request.auth, COORDINATOR)
    audit_record(action="export", object_type="audit")

    def rows():
        yield "at,actor,action,object_type,object_id,ip,detail\r\n"
        for event in AuditEvent.objects.order_by("at", "id").iterator(chunk_size=2000):
            yield csv_line([event.at.isoformat(), event.actor, event.action, event.object_type,
                            event.object_id, event.ip or "", json.dumps(event.detail, sort_keys=True)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


def _mount() -> None:
    from checkin.api import router as checkin_router
    from events.api import router as events_router
    from kiosk.api import router as kiosk_router

    api.add_router("", auth_router)
    api.add_router("", audit_router)
    api.add_router("", events_router)
    api.add_router("", checkin_router)
    api.add_router("", kiosk_router)


_mount()
