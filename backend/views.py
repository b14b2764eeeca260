from django.contrib.auth import authenticate, login
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from backend.auth import user_roles
from backend.errors import RateLimited, Unauthenticated
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
