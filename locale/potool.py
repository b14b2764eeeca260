"""Small gettext .po helper for the translation workflow (docs/client-page.md). No dependencies.

    python locale/potool.py headers            # set Language, Plural-Forms and charset in every .po
    python locale/potool.py todo en [--json]   # entries of a language that are empty or fuzzy
    python locale/potool.py fill FILE.py       # fill translations from FILE.py's dict T (see below)
    python locale/potool.py check              # exit 1 when en/tr/ar/pt have empty or fuzzy entries

FILE.py defines T = {msgid: {"en": "...", "tr": "...", "ar": "...", "pt": "...", "nl": "..."}}; a key
may be (msgctxt, msgid). For a plural entry the value per language is a list of forms (Arabic: 6).
"nl" is only needed for msgids that are not Dutch (strings written in English by mistake).
The parser is also used by tests/test_translations.py.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

LOCALE = Path(__file__).resolve().parent
LANGS = ("en", "tr", "ar", "pt", "nl")
TARGETS = ("en", "tr", "ar", "pt")
PLURAL_FORMS = {
    "nl": "nplurals=2; plural=(n != 1);",
    "en": "nplurals=2; plural=(n != 1);",
    "tr": "nplurals=2; plural=(n > 1);",
    "pt": "nplurals=2; plural=(n != 1);",
    "ar": ("nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
           "n%100>=11 && n%100<=99 ? 4 : 5);"),
}
NPLURALS = {"nl": 2, "en": 2, "tr": 2, "pt": 2, "ar": 6}


@dataclass
class Entry:
    comments: list[str] = field(default_factory=list)  # "#." "#:" "#|" "# " lines, kept as they are
    flags: list[str] = field(default_factory=list)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    obsolete: bool = False

    @property
    def key(self):
        return (self.msgctxt, self.msgid) if self.msgctxt is not None else self.msgid

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        if self.msgid_plural is not None:
            return bool(self.msgstr_plural) and all(v for v in self.msgstr_plural.values())
        return bool(self.msgstr)


def _unquote(s: str) -> str:
    s = s.strip()
    assert s.startswith('"') and s.endswith('"'), s
    return ast.literal_eval(s) if "\\" in s else s[1:-1]


def _quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\r", "\\r")
    if "\n" in out and out != "\n":
        parts = out.split("\n")
        lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        return '""\n' + "\n".join(f'"{line}"' for line in lines)
    return f'"{out}"'.replace("\n", "\\n")


def parse(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    cur = Entry()
    field_name: str | None = None
    plural_index = 0

    def flush():
        nonlocal cur, field_name
        if field_name is not None:  # a block of comments only is not an entry
            entries.append(cur)
        cur = Entry()
        field_name = None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip("\n")
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].lstrip()
            cur.obsolete = True
            if not line:
                continue
        if not line.strip():
            flush()
            continue
        if line.startswith("#,"):
            cur.flags += [f.strip() for f in line[2:].split(",") if f.strip()]
            continue
        if line.startswith("#"):
            cur.comments.append(line)
            continue
        if line.startswith("msgctxt "):
            cur.msgctxt, field_name = _unquote(line[8:]), "msgctxt"
        elif line.startswith("msgid_plural "):
            cur.msgid_plural, field_name = _unquote(line[13:]), "msgid_plural"
        elif line.startswith("msgid "):
            cur.msgid, field_name = _unquote(line[6:]), "msgid"
        elif line.startswith("msgstr["):
            idx, rest = line[7:].split("]", 1)
            plural_index = int(idx)
            cur.msgstr_plural[plural_index] = _unquote(rest)
            field_name = "msgstr_plural"
        elif line.startswith("msgstr "):
            cur.msgstr, field_name = _unquote(line[7:]), "msgstr"
        elif line.startswith('"'):
            text = _unquote(line)
            if field_name == "msgctxt":
                cur.msgctxt += text
            elif field_name == "msgid":
                cur.msgid += text
            elif field_name == "msgid_plural":
                cur.msgid_plural += text
            elif field_name == "msgstr":
                cur.msgstr += text
            elif field_name == "msgstr_plural":
                cur.msgstr_plural[plural_index] += text
    flush()
    return entries


def dump(entries: list[Entry]) -> str:
    chunks = []
    for e in entries:
        lines = [c for c in e.comments if not c.startswith("#|")]
        if e.flags:
            lines.append("#, " + ", ".join(dict.fromkeys(e.flags)))
        lines += [c for c in e.comments if c.startswith("#|")]
        body = []
        if e.msgctxt is not None:
            body.append("msgctxt " + _quote(e.msgctxt))
        body.append("msgid " + _quote(e.msgid))
        if e.msgid_plural is not None:
            body.append("msgid_plural " + _quote(e.msgid_plural))
            for i in sorted(e.msgstr_plural):
                body.append(f"msgstr[{i}] " + _quote(e.msgstr_plural[i]))
        else:
            body.append("msgstr " + _quote(e.msgstr))
        if e.obsolete:
            body = ["#~ " + b for line in body for b in line.split("\n")]
        chunks.append("\n".join(lines + body))
    return "\n\n".join(chunks) + "\n"


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "django.po"


def set_headers() -> None:
    for lang in LANGS:
        path = po_path(lang)
        entries = parse(path)
        header = entries[0]
        assert header.msgid == ""
        lines = []
        for line in header.msgstr.split("\n"):
            if line.startswith("Language:"):
                line = f"Language: {lang}"
            elif line.startswith("Plural-Forms:"):
                line = f"Plural-Forms: {PLURAL_FORMS[lang]}"
            elif line.startswith("Content-Type:"):
                line = "Content-Type: text/plain; charset=UTF-8"
            elif line.startswith("Project-Id-Version:"):
                line = "Project-Id-Version: vrijwilligersmarkt"
            elif line.startswith("PO-Revision-Date:"):
                line = "PO-Revision-Date: 2026-11-27 22:00+0100"
            elif line.startswith("Last-Translator:"):
                line = "Last-Translator: Vrijwilligersmarkt i18n <i18n@vrijwilligersmarkt.invalid>"
            elif line.startswith("Language-Team:"):
                line = f"Language-Team: {lang} <i18n@vrijwilligersmarkt.invalid>"
            lines.append(line)
        header.msgstr = "\n".join(lines)
        header.flags = [f for f in header.flags if f != "fuzzy"]
        header.comments = [c for c in header.comments if not c.startswith("# SOME DESCRIPTIVE")
                           and not c.startswith("# Copyright") and not c.startswith("# This file is")
                           and not c.startswith("# FIRST AUTHOR")]
        header.comments = ["# Vrijwilligersmarkt. Dutch (B1) is the source language; see docs/client-page.md."]
        if lang == "nl":
            # Dutch msgids need no translation; a fuzzy guess from msgmerge would only do harm.
            for e in entries[1:]:
                if e.fuzzy:
                    e.flags = [f for f in e.flags if f != "fuzzy"]
                    e.comments = [c for c in e.comments if not c.startswith("#|")]
                    e.msgstr = ""
                    e.msgstr_plural = {i: "" for i in e.msgstr_plural}
        path.write_text(dump(entries), encoding="utf-8")


def todo(lang: str) -> list[Entry]:
    return [e for e in parse(po_path(lang))[1:] if not e.obsolete and (e.fuzzy or not e.translated)]


def fill(source: Path) -> dict[str, int]:
    namespace: dict = {}
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)
    table: dict = namespace["T"]
    counts = {}
    for lang in LANGS:
        path = po_path(lang)
        entries = parse(path)
        n = 0
        for e in entries[1:]:
            row = table.get(e.key)
            if row is None or lang not in row:
                continue
            value = row[lang]
            if e.msgid_plural is not None:
                forms = value if isinstance(value, list) else [value] * NPLURALS[lang]
                if len(forms) != NPLURALS[lang]:
                    raise SystemExit(f"{lang}: {e.msgid!r} needs {NPLURALS[lang]} plural forms")
                e.msgstr_plural = dict(enumerate(forms))
            else:
                if isinstance(value, list):
                    raise SystemExit(f"{lang}: {e.msgid!r} is not a plural entry")
                e.msgstr = value
            e.flags = [f for f in e.flags if f != "fuzzy"]
            e.comments = [c for c in e.comments if not c.startswith("#|")]
            n += 1
        path.write_text(dump(entries), encoding="utf-8")
        counts[lang] = n
    return counts


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "check"
    if cmd == "headers":
        set_headers()
        return 0
    if cmd == "todo":
        items = todo(argv[2])
        if "--json" in argv:
            print(json.dumps([[e.msgctxt, e.msgid, e.msgid_plural] for e in items], ensure_ascii=False, indent=0))
        else:
            for e in items:
                print(("[fuzzy] " if e.fuzzy else "") + (f"{e.msgctxt}|" if e.msgctxt else "") + repr(e.msgid)
                      + (f" / {e.msgid_plural!r}" if e.msgid_plural else ""))
        return 0
    if cmd == "fill":
        print(fill(Path(argv[2])))
        return 0
    if cmd == "check":
        bad = {lang: len(todo(lang)) for lang in TARGETS}
        print(bad)
        return 1 if any(bad.values()) else 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
