import pytest

from backend.audit import audit_record, reset_actor, set_actor
from backend.models import AuditEvent
from tests import factories as f


@pytest.mark.django_db
def test_audit_log_is_append_only():
    audit_record(action="read", object_type="client", object_id=1)
    event = AuditEvent.objects.get()
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_changes_to_clients_and_invitations_are_audited_with_the_actor(market):
    token = set_actor("coordinator", "127.0.0.9")
    try:
        client = f.client(market.district)
        f.invitation(market, client)
    finally:
        reset_actor(token)
    client_events = AuditEvent.objects.filter(object_type="client", object_id=str(client.pk))
    assert [e.action for e in client_events] == ["create"]
    assert client_events[0].actor == "coordinator" and client_events[0].ip == "127.0.0.9"
    bulk = AuditEvent.objects.get(object_type="invitation", action="create")
    assert bulk.detail["count"] == 1
    # no personal data in the audit detail
    assert "Kaya" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


@pytest.mark.django_db
def test_audit_api_is_coordinator_only_and_exports_csv(coordinator, consultant, api_as, market):
    f.client(market.district, given="=cmd|' /C calc'!A0")
    assert api_as(consultant).get("/api/v1/audit").status_code == 403
    c = api_as(coordinator)
    r = c.get("/api/v1/audit?object_type=client")
    assert r.status_code == 200 and r.json()[0]["action"] == "create"
    csv_response = c.get("/api/v1/audit.csv")
    assert csv_response.status_code == 200
    body = b"".join(csv_response.streaming_content).decode()
    assert body.startswith("at,actor,action,object_type")
    assert AuditEvent.objects.filter(action="export", actor="coordinator").exists()


def test_csv_cells_that_look_like_formulas_are_defused():
    from backend.csvutil import csv_line

    assert csv_line(["=1+1", "-3", "@x", "ok"]) == "'=1+1,-3,'@x,ok\r\n"


@pytest.mark.django_db
def test_security_headers_are_set(client):
    r = client.get("/login/")
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_reading_a_client_record_is_audited(coordinator, market, api_as):
    from django.contrib.auth.models import User  # noqa: F401

    client = f.client(market.district)
    f.invitation(market, client)
    coordinator.is_staff = True
    coordinator.save()
    c = api_as(coordinator)
    assert c.get(f"/admin/events/client/{client.pk}/change/").status_code == 200
    read = AuditEvent.objects.get(action="read", object_type="client", object_id=str(client.pk))
    assert read.actor == "coordinator"
    assert c.get(f"/api/v1/markets/{market.pk}/invitations").status_code == 200
    assert AuditEvent.objects.filter(action="read", object_id=f"market:{market.pk}", actor="coordinator").exists()
