"""The outcome part of the dashboard page as the server renders it (the browser journeys are in
tests/browser/test_consultant_outcomes.py): the agreement change form, hours fields that take a
Dutch decimal comma, no free text with an exemption, the medical-details hint on free-text
fields, and the texts the page's JS shows."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from tests import factories as f
from tests.conftest import logged_in
from tests.events.test_leads_dashboard import config

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(market, consultant):
    f.stand(market, f.organisation("Buurthuis"))
    response = logged_in(consultant).get(f"/dashboard/{market.pk}/")
    assert response.status_code == 200
    return response


def block(body: str, start: str) -> str:
    """The HTML from `start` to the end of its element (elements of the same tag name nest)."""
    at = body.index(start)
    tag = re.search(r"<(\w+)[^>]*$", body[:at + len(start)]).group(1)
    depth, pos = 0, body.rindex("<", 0, at)
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", body[pos:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return body[pos:pos + match.end()]
    raise AssertionError(f"{start} is not closed")


def test_exemption_fields_have_no_free_text(page):
    exemption = block(page.content.decode(), 'data-fields="exemption"')
    assert 'name="category"' in exemption and 'name="review_date"' in exemption
    assert "<textarea" not in exemption
    assert not re.search(r'<input(?![^>]*type="date")', exemption)
    assert "Schrijf geen medische gegevens op." in exemption


def test_free_text_fields_warn_about_medical_details(page):
    body = page.content.decode()
    for field, hint in (("f-reason", "f-reason-hint"), ("f-note", "f-note-hint")):
        assert re.search(rf'<textarea id="{field}"[^>]*aria-describedby="{hint}"', body), field
        assert re.search(rf'id="{hint}">Schrijf geen medische gegevens op.<', body), hint


def test_agreement_change_form(page):
    change = block(page.content.decode(), "data-agreement-change")
    assert "<summary>Afspraak wijzigen</summary>" in change
    for name in ("activity", "hours_per_week", "hours_reason", "start_date", "end_date", "capacity_override_reason"):
        assert f'name="{name}"' in change, name
    assert "Wijziging opslaan" in change and "De oude versie blijft bewaard." in change


def test_hours_fields_take_a_decimal_comma(page):
    # A number field refuses "7,5" and then reads as empty: the hours are a text field.
    body = page.content.decode()
    for field in ("f-hours", "c-hours"):
        tag = re.search(rf'<input id="{field}"[^>]*>', body).group(0)
        assert 'type="text"' in tag and 'inputmode="decimal"' in tag, tag


def test_hours_limit_in_labels_and_config(market, consultant):
    with override_settings(VM_MAX_HOURS_PER_WEEK=16):
        response = logged_in(consultant).get(f"/dashboard/{market.pk}/")
    body = response.content.decode()
    assert body.count("Reden voor meer dan 16 uur per week") == 2  # the outcome and the change form
    assert config(response)["hours_limit"] == 16


def test_texts_for_outcomes_and_versions(page):
    texts = config(page)["i18n"]
    assert texts["network_error"] == "Geen verbinding met de server. Probeer het opnieuw."
    assert texts["version_saved"] % {"version": 2} == "Nieuwe versie opgeslagen (versie 2)."
    assert texts["summary_exemption"] % {"category": "Mantelzorg", "date": "1 juni 2027"} == (
        "Vrijstelling: Mantelzorg. Opnieuw bekijken op 1 juni 2027.")
    for key in ("summary_agreement", "summary_follow_up", "summary_declined", "version_line", "version_current",
                "start_required", "end_required"):
        assert texts[key].strip(), key
