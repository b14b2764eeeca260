import json
import re

from django.contrib.staticfiles import finders
from django.test import Client as DjangoClient

from kiosk.views import kiosk_strings


def test_kiosk_page_renders_without_inline_scripts(db):
    r = DjangoClient().get("/kiosk/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Bezoeker scannen" in html
    assert "/static/vendor/jsqr/jsQR.js" in html and "/static/kiosk/kiosk.js" in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attrs, body = script
        assert "src=" in attrs or 'type="application/json"' in attrs, f"inline script: {attrs} {body[:80]}"
    strings = json.loads(re.search(r'<script id="kiosk-strings" type="application/json">(.*?)</script>', html,
                                   re.S).group(1))
    assert strings == kiosk_strings()


def test_every_text_of_kiosk_js_is_passed_from_the_server():
    source = open(finders.find("kiosk/kiosk.js"), encoding="utf-8").read()
    used = set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', source))
    used |= set(re.findall(r'^\s+\w+: "((?:[^"\\]|\\.)*)",$', source, re.M))  # the REASONS table
    missing = used - set(kiosk_strings())
    assert not missing, missing


def test_static_files_exist():
    for path in ("kiosk/kiosk.js", "kiosk/kiosk.css", "vendor/jsqr/jsQR.js"):
        assert finders.find(path), path
