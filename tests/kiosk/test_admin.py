import re

from kiosk import services
from kiosk.models import Device, PairingCode
from tests import factories as f


def admin_client(client, user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return client


def test_stand_action_creates_codes_and_shows_them(client, coordinator, stand):
    c = admin_client(client, coordinator)
    r = c.post("/admin/events/stand/", {"action": "create_pairing_codes", "_selected_action": [stand.pk]})
    assert r.status_code == 200
    html = r.content.decode()
    code = re.search(r'class="pairing-code"[^>]*>([0-9A-Z]{4}-[0-9A-Z]{4})<', html).group(1)
    assert PairingCode.objects.filter(stand=stand).count() == 1
    token, device = services.device_pair(code=code, ip="1.1.1.1")
    assert device.stand == stand


def test_stand_change_page_lists_devices(client, coordinator, device):
    c = admin_client(client, coordinator)
    r = c.get(f"/admin/events/stand/{device.stand_id}/change/")
    assert r.status_code == 200
    assert "Tablet 1" in r.content.decode()


def test_devices_list_and_revoke_action(client, coordinator, paired):
    token, device = paired
    c = admin_client(client, coordinator)
    r = c.get("/admin/kiosk/device/")
    assert r.status_code == 200 and "Tablet 1" in r.content.decode()
    r = c.post("/admin/kiosk/device/", {"action": "revoke_devices", "_selected_action": [device.pk]}, follow=True)
    assert r.status_code == 200
    device.refresh_from_db()
    assert device.revoked_at is not None and device.revoked_by == coordinator
    assert services.device_for_token(token) is None


def test_non_coordinator_staff_cannot_make_codes(client, stand):
    other = f.user("staff-no-role")
    c = admin_client(client, other)
    r = c.post("/admin/events/stand/", {"action": "create_pairing_codes", "_selected_action": [stand.pk]})
    assert r.status_code in (302, 403)
    assert not PairingCode.objects.exists()
    assert not Device.objects.exists()
