"""Translations are complete and compiled (docs/client-page.md, "Translation workflow").

- every entry of en/tr/ar/pt is translated and not fuzzy, with the same placeholders;
- every compiled .mo holds exactly the translations of its .po (so a .po edited without
  `compilemessages` fails here: git does not keep file times, so contents are compared);
- every translatable string in the source is in the catalogues (needs GNU gettext's xgettext);
- the client page really comes out in each language.
"""

from __future__ import annotations

import gettext as gettext_module
import importlib.util
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "locale"
TARGETS = ["en", "tr", "ar", "pt"]
ALL = TARGETS + ["nl"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")


def _potool():
    spec = importlib.util.spec_from_file_location("potool", LOCALE / "potool.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("potool", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


potool = _potool()


def entries(lang):
    return [e for e in potool.parse(LOCALE / lang / "LC_MESSAGES" / "django.po")[1:] if not e.obsolete]


def placeholders(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


@pytest.mark.parametrize("lang", TARGETS)
def test_every_entry_is_translated_and_not_fuzzy(lang):
    found = entries(lang)
    assert len(found) > 100
    missing = [e.msgid for e in found if not e.translated]
    fuzzy = [e.msgid for e in found if e.fuzzy]
    assert not missing, f"{lang}: {len(missing)} untranslated, e.g. {missing[:5]}"
    assert not fuzzy, f"{lang}: {len(fuzzy)} fuzzy, e.g. {fuzzy[:5]}"


@pytest.mark.parametrize("lang", ALL)
def test_placeholders_and_markup_are_kept(lang):
    for e in entries(lang):
        if not e.translated:
            continue
        if e.msgid_plural is None:
            assert placeholders(e.msgstr) == placeholders(e.msgid), (lang, e.msgid, e.msgstr)
            assert e.msgstr.count("<a ") == e.msgid.count("<a "), (lang, e.msgid)
        else:
            allowed = placeholders(e.msgid) | placeholders(e.msgid_plural)
            assert len(e.msgstr_plural) == potool.NPLURALS[lang], (lang, e.msgid)
            for form in e.msgstr_plural.values():
                assert placeholders(form) <= allowed, (lang, e.msgid, form)


@pytest.mark.parametrize("lang", ALL)
def test_plural_forms_header(lang):
    header = potool.parse(LOCALE / lang / "LC_MESSAGES" / "django.po")[0].msgstr
    assert f"Language: {lang}\n" in header
    assert f"Plural-Forms: {potool.PLURAL_FORMS[lang]}" in header
    assert "charset=UTF-8" in header


@pytest.mark.parametrize("lang", ALL)
def test_compiled_catalogue_matches_the_po(lang):
    mo = LOCALE / lang / "LC_MESSAGES" / "django.mo"
    assert mo.exists(), f"{mo} is missing: run manage.py compilemessages"
    with mo.open("rb") as fh:
        catalog = gettext_module.GNUTranslations(fh)._catalog
    expected = {}
    for e in entries(lang):
        if e.fuzzy or not e.translated:
            continue
        key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt is not None else e.msgid
        if e.msgid_plural is None:
            expected[key] = e.msgstr
        else:
            for i, form in e.msgstr_plural.items():
                expected[(key, i)] = form
    compiled = {k: v for k, v in catalog.items() if k != ""}
    stale = {k: (v, compiled.get(k)) for k, v in expected.items() if compiled.get(k) != v}
    extra = set(compiled) - set(expected)
    assert not stale, f"{lang}: django.mo is older than django.po ({len(stale)} differ): run compilemessages"
    assert not extra, f"{lang}: django.mo has entries the .po no longer has: run compilemessages"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext)")
def test_every_source_string_is_in_the_catalogues(tmp_path):
    """Extract the source again, in a copy of the project (makemessages writes next to the
    sources it scans), and compare the msgids with locale/."""
    copy = tmp_path / "src"
    skip = shutil.ignore_patterns(".venv", "node_modules", "staticfiles", "var", ".git", "locale", "tests",
                                  "bench", "__pycache__", "*.pyc", "vendor", "*.mo", "*.po", "*.png", "*.pdf")
    shutil.copytree(ROOT, copy, ignore=skip)
    (copy / "locale").mkdir()
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DEBUG": "1"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "en", "--verbosity", "0"],
                            cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fresh = {e.key for e in potool.parse(copy / "locale" / "en" / "LC_MESSAGES" / "django.po")[1:]
             if not e.obsolete}
    assert len(fresh) > 300, "the extraction found (almost) nothing: check the copy"
    ours = {e.key for e in entries("en")}
    missing = sorted(map(str, fresh - ours))
    assert not missing, (f"{len(missing)} strings are not in locale/ yet: run makemessages and translate them. "
                         f"E.g. {missing[:10]}")


# ---------------------------------------------------------------------------------------------
# The client page in each language
# ---------------------------------------------------------------------------------------------

READ_ALOUD = {"nl": "Voorlezen", "en": "Read aloud", "tr": "Sesli oku", "ar": "اقرأ بصوت عالٍ", "pt": "Ler em voz alta"}


@pytest.fixture
def token(db):
    from tests import factories as f

    m = f.market(f.district(), state="planned", starts_in_hours=72)
    return f.invitation(m).token


@pytest.mark.parametrize("lang", ALL)
def test_client_page_comes_out_in_each_language(client, token, lang):
    html = client.get(f"/i/{token}?lang={lang}").content.decode()
    assert f'<html lang="{lang}"' in html
    assert READ_ALOUD[lang] in html
    if lang != "nl":
        # Nothing of the Dutch source is left in the visible headings.
        for dutch in ("Wanneer en waar", "Welk vrijwilligerswerk wilt u doen?", "Neem mee"):
            assert dutch not in html, (lang, dutch)


def test_arabic_dates_use_arabic_month_names(client, token):
    html = client.get(f"/i/{token}?lang=ar").content.decode()
    assert re.search(r"(يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر)", html)
