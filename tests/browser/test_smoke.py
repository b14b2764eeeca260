"""Smoke test of the browser fixtures: the server runs, pages render, a login works."""

import re

import pytest

pytestmark = pytest.mark.browser


def test_home_and_login_pages_load(page, live_server):
    response = page.goto("/")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "nl"
    response = page.goto("/login/")
    assert response.status == 200
    assert page.locator("#id_username").is_visible()
    assert page.locator("#id_password").is_visible()


def test_coordinator_logs_in(page, login):
    login(page, "coordinator")
    assert page.url.endswith("/")
    assert page.locator(".who").inner_text() == "coordinator"
    assert page.locator('a[href="/admin/"]').count() == 1


def test_wrong_password_stays_on_login(page, login):
    with pytest.raises(AssertionError, match="login as 'host' failed"):
        login(page, "host", password="not-the-password")
    assert page.locator("[role=alert]").is_visible()


def test_api_docs_load(page):
    response = page.goto("/api/v1/docs")
    assert response.status == 200
    page.wait_for_selector("#swagger-ui, .swagger-ui", timeout=15_000)
    assert re.search(r"openapi\.json", page.content())


def test_api_session_logs_in_and_sends_csrf(api_session):
    client = api_session("coordinator")
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert "coordinator" in me.json()["roles"]
    assert client.post("/api/v1/auth/logout").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401


def test_manage_runs_against_the_server_database(live_server):
    out = live_server.manage("seed_demo", "--password", live_server.password, "--clients", "12")
    assert "Demo ready" in out


def test_fake_camera_plays_a_qr_video(fake_camera_browser, qr_y4m, tmp_path, live_server):
    video = qr_y4m("http://127.0.0.1/i/test-token", tmp_path / "qr.y4m")
    assert video.stat().st_size > 0
    chromium = fake_camera_browser(video)
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login/")
    labels = page.evaluate(
        """async () => {
            const stream = await navigator.mediaDevices.getUserMedia({video: true});
            const labels = stream.getVideoTracks().map(t => t.label);
            stream.getTracks().forEach(t => t.stop());
            return labels;
        }"""
    )
    assert len(labels) == 1
    context.close()


def test_vendored_jsqr_decodes_a_qr_code(page, tmp_path):
    import base64
    import io

    import qrcode

    buffer = io.BytesIO()
    qrcode.make("http://127.0.0.1:8000/i/smoke-token", border=4).save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    page.goto("/login/")
    page.add_script_tag(url="/static/vendor/jsqr/jsQR.js")
    decoded = page.evaluate(
        """async (src) => {
            const img = new Image();
            img.src = src;
            await img.decode();
            const canvas = document.createElement('canvas');
            canvas.width = img.width; canvas.height = img.height;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
            const code = jsQR(pixels.data, pixels.width, pixels.height);
            return code && code.data;
        }""",
        data_url,
    )
    assert decoded == "http://127.0.0.1:8000/i/smoke-token"


def test_vendored_axe_core_runs_on_the_login_page(page, assert_accessible):
    page.goto("/login/")
    assert_accessible(page)
