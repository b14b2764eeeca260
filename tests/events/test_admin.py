import io

import pytest
import zxingcpp
from django.contrib.auth.models import Group
from django.test import Client as DjangoClient
from PIL import Image
from pypdf import PdfReader

from backend.auth import COORDINATOR, grant_role
from backend.models import FeedHead
from events import services
from events.models import Client, Invitation, Market
from tests import factories as f

CHANGELISTS = ["district", "organisation", "activity", "market", "timeslot", "stand", "client", "invitation",
               "lead", "agreement", "exemption", "clientstatement"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(coordinator):
    coordinator.refresh_from_db()
    c = DjangoClient()
    c.force_login(coordinator)
    return c


def action(c, model, name, ids, follow=False, **extra):
    return c.post(f"/admin/events/{model}/", {"action": name, "_selected_action": [str(i) for i in ids], **extra},
                  follow=follow)


def test_coordinator_role_makes_staff_and_losing_it_removes_staff(db):
    user = f.user("newcoord")
    assert not user.is_staff
    grant_role(user, COORDINATOR)
    user.refresh_from_db()
    assert user.is_staff
    user.groups.remove(Group.objects.get(name=COORDINATOR))
    user.refresh_from_db()
    assert not user.is_staff
    Group.objects.get(name=COORDINATOR).user_set.add(user)
    user.refresh_from_db()
    assert user.is_staff


@pytest.mark.parametrize("model", CHANGELISTS)
def test_coordinator_sees_every_changelist(admin_client, market, model):
    f.invitation(market)
    r = admin_client.get(f"/admin/events/{model}/")
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["/admin/backend/auditevent/", "/admin/backend/feedentry/", "/admin/checkin/scan/"])
def test_coordinator_reads_the_audit_log_feed_and_scans_but_changes_nothing(admin_client, market, host, path):
    """docs/security-operations.md: coordinators read the audit log in the admin; check-ins
    are audited as scans. Read-only: no add, no change form that saves, no delete."""
    from checkin.models import Scan
    from checkin.services import ScanRequest, checkin_redeem

    checkin_redeem(market=market, request=ScanRequest(market_id=market.pk, nonce="n-admin",
                                                      token=f.invitation(market).token), user=host)
    r = admin_client.get(path)
    assert r.status_code == 200
    assert admin_client.get(path + "add/").status_code == 403
    if path.endswith("scan/"):
        scan = Scan.objects.get()
        assert admin_client.get(f"{path}{scan.pk}/change/").status_code == 200  # a view-only page
        assert admin_client.post(f"{path}{scan.pk}/delete/", {"post": "yes"}).status_code == 403
        assert Scan.objects.count() == 1


def test_other_roles_have_no_admin(consultant, host):
    for user in (consultant, host):
        c = DjangoClient()
        c.force_login(user)
        r = c.get("/admin/events/client/")
        assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_client_list_shows_no_contact_details(admin_client, district):
    f.client(district, number="C-1", email="geheim@example.nl", phone="0611111111")
    r = admin_client.get("/admin/events/client/?q=C-1")
    assert b"C-1" in r.content
    assert b"geheim@example.nl" not in r.content and b"0611111111" not in r.content


def test_market_open_close_actions(admin_client, district):
    m = f.market(district, state="planned")
    f.invitation(m)
    action(admin_client, "market", "open_markets", [m.pk])
    assert Market.objects.get(pk=m.pk).state == "open"
    action(admin_client, "market", "close_markets", [m.pk])
    assert Market.objects.get(pk=m.pk).state == "closed"
    assert Invitation.objects.get(market=m).state == "no_show"


def test_market_letters_action(admin_client, market):
    for _ in range(3):
        f.invitation(market)
    r = action(admin_client, "market", "download_letters", [market.pk])
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(b"".join(r.streaming_content))).pages) == 3


def test_market_follow_up_action_with_intermediate_page(admin_client, district):
    first = f.market(district, state="open")
    missed = f.invitation(first)
    services.market_close(market=first)
    later = f.market(district, state="planned", starts_in_hours=24 * 7, name="Later")
    r = action(admin_client, "market", "follow_up", [first.pk])
    assert r.status_code == 200 and b"Later" in r.content and b'name="apply"' in r.content
    assert not Invitation.objects.filter(market=later).exists()
    r = action(admin_client, "market", "follow_up", [first.pk], apply="1", later=str(later.pk))
    assert r.status_code == 302
    inv = Invitation.objects.get(market=later)
    assert (inv.round, inv.previous_id) == (2, missed.pk)


def test_market_invite_district_action(admin_client, market, other_district):
    already = f.invitation(market)
    new = [f.client(market.district) for _ in range(3)]
    f.client(other_district)
    action(admin_client, "market", "invite_district", [market.pk])
    assert set(Invitation.objects.filter(market=market).values_list("client_id", flat=True)) == {
        already.client_id, *[c.pk for c in new]}
    action(admin_client, "market", "invite_district", [market.pk])  # repeat: no-op
    assert Invitation.objects.filter(market=market).count() == 4


def test_market_add_through_admin_gets_a_feed_head(admin_client, district):
    r = admin_client.post("/admin/events/market/add/", {
        "district": district.pk, "name": "Nieuwe markt", "venue": "Zaal", "address": "Straat 2",
        "starts_at_0": "2030-05-01", "starts_at_1": "10:00", "ends_at_0": "2030-05-01", "ends_at_1": "14:00",
        "what_to_bring": "", "slots-TOTAL_FORMS": "0", "slots-INITIAL_FORMS": "0",
        "stands-TOTAL_FORMS": "0", "stands-INITIAL_FORMS": "0"})
    assert r.status_code == 302, r.content[:3000]
    m = Market.objects.get(name="Nieuwe markt")
    assert FeedHead.objects.filter(market_id=m.pk).exists()


def test_client_import_view(admin_client, district):
    r = admin_client.get("/admin/events/client/")
    assert b"/admin/events/client/import-csv/" in r.content
    data = "client_number,given_name,family_name,language\nA1,Ayşe,Şahin,tr\nA2,Jan,Smit,xx\n".encode()
    upload = io.BytesIO(data)
    upload.name = "c.csv"
    r = admin_client.post("/admin/events/client/import-csv/", {"district": district.pk, "file": upload})
    assert r.status_code == 200
    assert Client.objects.filter(client_number="A1", district=district).exists()
    assert b"unknown_language" in r.content
    upload = io.BytesIO(b"")
    upload.name = "empty.csv"
    r = admin_client.post("/admin/events/client/import-csv/", {"district": district.pk, "file": upload})
    assert r.status_code == 200  # the form refuses an empty upload


def test_client_import_view_file_error_is_shown(admin_client, district):
    upload = io.BytesIO("client_number,given_name\nA1,Zoë\n".encode("latin-1"))
    upload.name = "c.csv"
    r = admin_client.post("/admin/events/client/import-csv/", {"district": district.pk, "file": upload}, follow=True)
    assert b"csv_encoding" in r.content
    assert Client.objects.count() == 0


def test_client_invite_action(admin_client, market):
    clients = [f.client(market.district) for _ in range(2)]
    ids = [c.pk for c in clients]
    r = action(admin_client, "client", "invite_to_market", ids)
    assert r.status_code == 200 and b'name="apply"' in r.content
    r = action(admin_client, "client", "invite_to_market", ids, apply="1", market=str(market.pk))
    assert r.status_code == 302
    assert Invitation.objects.filter(market=market, client_id__in=ids).count() == 2


def test_client_invite_action_other_district_is_refused(admin_client, market, other_district):
    stranger = f.client(other_district)
    r = action(admin_client, "client", "invite_to_market", [stranger.pk], apply="1", market=str(market.pk),
               follow=True)
    assert b"client_wrong_district" in r.content
    assert not Invitation.objects.exists()


def test_invitation_letters_and_qr_actions(admin_client, market):
    invs = [f.invitation(market) for _ in range(2)]
    r = action(admin_client, "invitation", "download_letters", [i.pk for i in invs])
    assert len(PdfReader(io.BytesIO(b"".join(r.streaming_content))).pages) == 2
    r = action(admin_client, "invitation", "download_qr", [invs[0].pk])
    assert r["Content-Type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
    assert decoded.text.endswith(f"/i/{invs[0].token}")
    r = admin_client.get(f"/admin/events/invitation/{invs[0].pk}/change/")
    assert r.status_code == 200 and f"/api/v1/invitations/{invs[0].pk}/qr.svg".encode() in r.content


def test_invitation_revoke_action_asks_first_then_revokes_the_open_ones(admin_client, market):
    open_one, checked_in = f.invitation(market), f.invitation(market)
    Invitation.objects.filter(pk=checked_in.pk).update(state=Invitation.State.CHECKED_IN)
    r = action(admin_client, "invitation", "revoke", [open_one.pk, checked_in.pk])
    assert r.status_code == 200 and b'name="apply"' in r.content and open_one.formatted_code.encode() in r.content
    assert Invitation.objects.get(pk=open_one.pk).state == "issued"  # asking changes nothing
    r = action(admin_client, "invitation", "revoke", [open_one.pk, checked_in.pk], apply="1", follow=True)
    assert "1 ingetrokken; 1 niet (niet meer open)." in r.content.decode()
    assert Invitation.objects.get(pk=open_one.pk).state == "revoked"
    assert Invitation.objects.get(pk=checked_in.pk).state == "checked_in"
