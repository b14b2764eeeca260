"""The client's own page `/i/<token>` and the accessibility statement (DESIGN.md §6).

Language order on the client page (docs/client-page.md): an explicit `?lang=xx` (then
remembered in Django's language cookie), the cookie, the client's preferred language, the
browser's Accept-Language. Forms are plain POST forms that work without JavaScript; after a
change the page redirects back to itself (post/redirect/get).
"""

from __future__ import annotations

from urllib.parse import quote_plus

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend import ratelimit
from backend.errors import AppError, Invalid, RateLimited
from events import client_services as cs
from events.models import LANGUAGE_CHOICES, LANGUAGE_CODES, ClientStatement, Invitation

LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600
RTL_LANGUAGES = {"ar"}


# --------------------------------------------------------------------------------------------
# Language
# --------------------------------------------------------------------------------------------

def _supported(code: str | None) -> str | None:
    code = (code or "").strip().lower()[:8]
    return code if code in LANGUAGE_CODES else None


def choose_language(request, invitation: Invitation | None) -> tuple[str, bool]:
    """Return (language, explicit): `explicit` when it came from `?lang=` and must be remembered."""
    explicit = _supported(request.GET.get("lang"))
    if explicit:
        return explicit, True
    remembered = _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if remembered:
        return remembered, False
    if invitation is not None:
        preferred = _supported(invitation.client.language)
        if preferred:
            return preferred, False
    accepted = translation.get_language_from_request(request)  # cookie handled above
    return (_supported(accepted) or settings.LANGUAGE_CODE), False


def _activate(request, lang: str) -> None:
    translation.activate(lang)
    request.LANGUAGE_CODE = lang


def _remember(response: HttpResponse, lang: str, explicit: bool) -> HttpResponse:
    if explicit:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, lang, max_age=LANGUAGE_COOKIE_MAX_AGE,
                            samesite="Lax", secure=not settings.DEBUG, httponly=False)
    response["Content-Language"] = lang
    # The page is the client's own; keep it out of shared caches and search engines.
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _language_links(request, current: str) -> list[dict]:
    path = request.path
    return [{"code": code, "label": label, "url": f"{path}?lang={code}", "current": code == current,
             "rtl": code in RTL_LANGUAGES} for code, label in LANGUAGE_CHOICES]


# --------------------------------------------------------------------------------------------
# Token lookup with the rate limit on failures
# --------------------------------------------------------------------------------------------

def _phone_context() -> dict:
    phone = settings.VM_MUNICIPALITY_PHONE
    tel = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return {"municipality_name": settings.VM_MUNICIPALITY_NAME, "municipality_phone": phone,
            "municipality_phone_tel": tel,
            # In a sentence: a link to call, kept left to right and on one line ("14 010" must not
            # break or turn around on an Arabic page).
            "municipality_phone_link": format_html('<a class="phone" dir="ltr" href="tel:{}">{}</a>', tel, phone)}


def _rate_limited_page(request, exc: RateLimited) -> HttpResponse:
    lang, explicit = choose_language(request, None)
    _activate(request, lang)
    response = render(request, "events/client/rate_limited.html",
                      {**_phone_context(), "retry_minutes": max(1, (exc.retry_after + 59) // 60)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return _remember(response, lang, False)


def _unknown_page(request) -> HttpResponse:
    lang, _explicit = choose_language(request, None)
    # The page is in plain Dutch; when the visitor reads another language, the same text follows
    # in that language too.
    _activate(request, "nl")
    response = render(request, "events/client/unknown.html", {
        **_phone_context(),
        "other_language": lang if lang != "nl" else None,
        "other_rtl": lang in RTL_LANGUAGES,
    }, status=404)
    return _remember(response, "nl", False)


def _lookup(request, find):
    """`find()` under the visitor's rate limit: (what it found, None) or (None, the refusal page).
    Unknown tokens and short codes count as failures of the visitor's IP."""
    ident = f"ip:{ratelimit.client_ip(request)}"
    try:
        ratelimit.check("client_token", ident)
    except RateLimited as exc:
        return None, _rate_limited_page(request, exc)
    found = find()
    if found is None:
        ratelimit.record_failure("client_token", ident)
        return None, _unknown_page(request)
    return found, None


@never_cache
@require_GET
def short_link(request, code: str):
    """The short address printed on the letter for typing, `/c/ABCD-EFGH` (DESIGN.md §6): it
    leads to the client's own page. The code is typed, so it is read forgivingly (lower case,
    O for 0, without the dash)."""
    token, refusal = _lookup(request, lambda: cs.client_token_for_code(code))
    if refusal is not None:
        return refusal
    return HttpResponseRedirect(reverse("client_page", args=[token]))


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

def _map_url(market) -> str:
    return "https://www.openstreetmap.org/search?query=" + quote_plus(f"{market.address}")


def _page_context(request, invitation: Invitation, lang: str, *, error: AppError | None = None,
                  form: str = "") -> dict:
    market = invitation.market
    now = timezone.now()
    options = cs.slot_options(invitation=invitation, now=now)
    chosen_activities, chosen_tags = cs.client_wishes_current(invitation=invitation)
    statements = cs.client_statements(invitation=invitation)
    constraint_done = {s.category for s in statements if s.kind == ClientStatement.Kind.CONSTRAINT}
    activities = cs.market_activities(market=market)
    alternatives = []
    if error is not None and error.code == "slot_full":
        wanted = set(error.extra.get("alternatives", []))
        alternatives = [o for o in options if o.slot.pk in wanted]
    return {
        **_phone_context(),
        "invitation": invitation,
        "market": market,
        "slot": invitation.slot,
        "code": invitation.formatted_code,
        "map_url": _map_url(market),
        "is_rtl": lang in RTL_LANGUAGES,
        "languages": _language_links(request, lang),
        "lang": lang,
        "is_issued": invitation.state == Invitation.State.ISSUED,
        "is_excused": invitation.state == Invitation.State.EXCUSED,
        "is_checked_in": invitation.state == Invitation.State.CHECKED_IN,
        "is_confirmed": invitation.confirmed_at is not None,
        "excuse_label": dict(cs.CANCEL_REASONS).get(invitation.excuse_category, ""),
        "deadline": cs.cancel_deadline(market),
        "can_cancel": cs.can_cancel(invitation, now=now),
        "deadline_hours": settings.VM_CANCEL_DEADLINE_HOURS,
        "slot_options": options,
        "can_change_slot": invitation.state == Invitation.State.ISSUED
        and any(not o.has_started and not o.is_current for o in options),
        "cancel_reasons": cs.CANCEL_REASONS,
        # What makes volunteering hard is not echoed back (whoever holds the letter could read it);
        # the page only says that something was passed on.
        "constraint_categories": cs.CONSTRAINT_CATEGORIES,
        "constraint_given": bool(constraint_done),
        "interest_tags": [(k, label, k in chosen_tags) for k, label in cs.INTEREST_TAGS],
        "activities": [(a, a.pk in chosen_activities) for a in activities],
        "volunteering": [s for s in statements if s.kind == ClientStatement.Kind.VOLUNTEERING],
        "error": error,
        "error_form": form,
        "alternatives": alternatives,
        "actions": {name: reverse("client_action", args=[invitation.token, name]) for name in ACTIONS},
    }


@never_cache
@require_GET
def client_page(request, token: str):
    invitation, refusal = _lookup(request, lambda: cs.client_invitation_get(token=token))
    if refusal is not None:
        return refusal
    lang, explicit = choose_language(request, invitation)
    _activate(request, lang)
    if cs.market_has_passed(invitation.market):
        response = render(request, "events/client/passed.html", {
            **_phone_context(), "is_rtl": lang in RTL_LANGUAGES,
            "languages": _language_links(request, lang)})
        return _remember(response, lang, explicit)
    response = render(request, "events/client/page.html", _page_context(request, invitation, lang))
    return _remember(response, lang, explicit)


# --------------------------------------------------------------------------------------------
# Actions (POST forms)
# --------------------------------------------------------------------------------------------

def _ints(values) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


def _confirm(request, inv):
    _inv, changed = cs.client_confirm(invitation=inv)
    return _("Dank u. Wij weten nu dat u komt.") if changed else _("U had al gezegd dat u komt.")


def _slot(request, inv):
    slot_ids = _ints([request.POST.get("slot")])
    if not slot_ids:
        raise Invalid(_("Kies een tijd."), code="invalid_slot")
    _inv, changed = cs.client_slot_change(invitation=inv, slot_id=slot_ids[0])
    return _("Uw tijd is veranderd.") if changed else _("Dit was al uw tijd.")


def _cancel(request, inv):
    _inv, changed = cs.client_cancel(invitation=inv, category=request.POST.get("reason", ""))
    return _("U bent afgemeld. U hoeft niet te komen.") if changed else _("U was al afgemeld.")


def _wishes(request, inv):
    changed = cs.client_wishes_save(invitation=inv, activity_ids=_ints(request.POST.getlist("activity")),
                                    tags=request.POST.getlist("tag"))
    return _("Dank u. De consulent ziet uw wensen.") if changed else _("Deze wensen had u al doorgegeven.")


def _volunteering(request, inv):
    _st, created = cs.client_volunteering_report(invitation=inv,
                                                 organisation_name=request.POST.get("organisation", ""),
                                                 hours_per_week=request.POST.get("hours", ""))
    return (_("Dank u. De consulent neemt contact met u op om dit vast te leggen.") if created
            else _("Dit had u al doorgegeven."))


def _constraints(request, inv):
    created = cs.client_constraints_report(invitation=inv, categories=request.POST.getlist("category"))
    return (_("Dank u. De consulent praat hierover met u.") if created
            else _("Dit had u al doorgegeven."))


ACTIONS = {
    "confirm": _confirm,
    "slot": _slot,
    "cancel": _cancel,
    "wishes": _wishes,
    "volunteering": _volunteering,
    "constraints": _constraints,
}


@never_cache
@require_POST
def client_action(request, token: str, action: str):
    handler = ACTIONS.get(action)
    invitation, refusal = _lookup(request, lambda: cs.client_invitation_get(token=token))
    if refusal is not None:
        return refusal
    lang, _explicit = choose_language(request, invitation)
    _activate(request, lang)
    if handler is None:
        return _unknown_page(request)
    if cs.market_has_passed(invitation.market):
        return client_page_redirect(invitation)
    try:
        message = handler(request, invitation)
    except AppError as exc:
        invitation.refresh_from_db()
        context = _page_context(request, invitation, lang, error=exc, form=action)
        response = render(request, "events/client/page.html", context, status=exc.status)
        return _remember(response, lang, False)
    messages.success(request, message)
    return client_page_redirect(invitation)


def client_page_redirect(invitation: Invitation) -> HttpResponseRedirect:
    response = HttpResponseRedirect(reverse("client_page", args=[invitation.token]))
    response.status_code = 303
    return response


# --------------------------------------------------------------------------------------------
# Accessibility statement
# --------------------------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD"])
def accessibility_statement(request):
    lang = _supported(request.GET.get("lang")) or translation.get_language() or settings.LANGUAGE_CODE
    _activate(request, lang)
    response = render(request, "events/client/accessibility.html", {
        **_phone_context(), "is_rtl": lang in RTL_LANGUAGES,
        "languages": _language_links(request, lang)})
    if _supported(request.GET.get("lang")):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, lang, max_age=LANGUAGE_COOKIE_MAX_AGE,
                            samesite="Lax", secure=not settings.DEBUG)
    response["Content-Language"] = lang
    return response


# --------------------------------------------------------------------------------------------
# A friendly page when a client's form is refused by the CSRF check (an old tab, cookies off)
# --------------------------------------------------------------------------------------------

def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW: on client pages a plain-language page with a way back; everywhere
    else Django's own answer (the API and the admin keep their behaviour)."""
    from django.views.csrf import csrf_failure as django_csrf_failure

    parts = request.path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "i":
        return django_csrf_failure(request, reason=reason)
    lang, _explicit = choose_language(request, None)
    _activate(request, lang)
    response = render(request, "events/client/expired.html", {
        **_phone_context(), "back_url": reverse("client_page", args=[parts[1]])}, status=403)
    return _remember(response, lang, False)
