import sys

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.db.utils import InterfaceError as DatabaseInterfaceError
from django.db.utils import OperationalError as DatabaseOperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from backend.auth import user_roles
from backend.errors import AppError, RateLimited, Unauthenticated, Unavailable
from backend.ratelimit import login_guard


def home(request):
    return render(request, "backend/home.html", {"roles": user_roles(request.user)})


def login_page(request):
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    error = ""
    status = 200
    if request.method == "POST":
        username = request.POST.get("username", "")
        try:
            with login_guard(request, username):
                user = authenticate(request, username=username, password=request.POST.get("password", ""))
                if user is None:
                    raise Unauthenticated()
            login(request, user)
            return redirect(next_url)
        except RateLimited:
            error, status = _("Te veel pogingen. Wacht een paar minuten en probeer het opnieuw."), 429
        except Unauthenticated:
            error, status = _("Gebruikersnaam of wachtwoord is niet goed."), 401
    return render(request, "backend/login.html", {"next": next_url, "error": error}, status=status)


# --------------------------------------------------------------------------------------------
# Server errors (settings.DEBUG off): handler500 in backend/urls.py
# --------------------------------------------------------------------------------------------

PAGE_RETRY_SECONDS = 30  # people, not the scanner's queue: no point in asking sooner


def _error_language(request) -> str:
    """?lang=, then Django's language cookie, then Accept-Language — never the database, which
    may be the thing that is down."""
    codes = {code for code, _label in settings.LANGUAGES}
    explicit = (request.GET.get("lang") or "").strip().lower()
    if explicit in codes:
        return explicit
    chosen = translation.get_language_from_request(request)
    return chosen if chosen in codes else settings.LANGUAGE_CODE


def server_error(request):
    """Every uncaught error: 503 when the database cannot be reached (the request may simply be
    repeated), otherwise 500. API paths get the JSON error envelope; pages get a short page in
    plain Dutch or the visitor's language, rendered without touching the session, the user or
    the database. Django has already logged the exception."""
    unavailable = isinstance(sys.exc_info()[1], (DatabaseOperationalError, DatabaseInterfaceError))
    status = 503 if unavailable else 500
    if request.path.startswith("/api/"):
        # The API's own error envelope (backend.api handles most errors before they get here).
        error = Unavailable() if unavailable else AppError(_("Er ging iets mis aan onze kant."), code="server_error")
        response = JsonResponse(error.as_dict(), status=status)
        retry_after = Unavailable.retry_after
    else:
        with translation.override(_error_language(request)):
            html = render_to_string("backend/error.html", {
                "unavailable": unavailable, "retry_url": request.get_full_path(),
                "municipality_name": settings.VM_MUNICIPALITY_NAME,
                "municipality_phone": settings.VM_MUNICIPALITY_PHONE})
            response = HttpResponse(html, status=status)
            response["Content-Language"] = translation.get_language()
        retry_after = PAGE_RETRY_SECONDS
    if unavailable:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
