"""Client import from CSV (DESIGN.md §11 `POST clients/import`). Semantics (docs/events.md):

- The file: UTF-8 with or without BOM, comma- or semicolon-separated (Dutch spreadsheets
  export with `;`), at most VM_IMPORT_MAX_BYTES bytes and VM_IMPORT_MAX_ROWS data rows.
  Header `client_number,given_name,family_name,language`, optional `email,phone,consultant`
  (a consultant's username); header names are matched case-insensitively, other columns
  are ignored and reported. A problem with the file as a whole (empty, wrong encoding, a
  required column missing, too large, not CSV) raises `Invalid` and writes nothing.
- Rows: every row is validated first. A row with any error is skipped entirely (never half
  written) and reported as `{row, field, code, message}`; `row` is the line number in the
  file as a spreadsheet shows it (the header is row 1). All valid rows are then written in
  ONE transaction (create or update by client number), so a crash or a concurrent import
  never leaves part of the valid rows behind.
- A client number that appears more than once in the file is an error on every one of
  those rows: we cannot know which one is right. A client number that already exists in
  another district is an error for that row (moving clients is a deliberate act).
- Updating: the file is the truth for the columns it has. An optional column that is
  present but empty clears that field; a column that is absent leaves the field alone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backend.audit import audit_record
from backend.auth import CONSULTANT
from backend.errors import Conflict, Invalid
from events.models import LANGUAGE_CODES, Client, District

REQUIRED_COLUMNS = ("client_number", "given_name", "family_name", "language")
OPTIONAL_COLUMNS = ("email", "phone", "consultant")
MAX_LENGTHS = {"client_number": 32, "given_name": 150, "family_name": 150, "email": 254, "phone": 32}
MAX_ERRORS_REPORTED = 1000


def max_bytes() -> int:
    return getattr(settings, "VM_IMPORT_MAX_BYTES", 5 * 1024 * 1024)


def max_rows() -> int:
    return getattr(settings, "VM_IMPORT_MAX_ROWS", 50_000)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)
    error_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "error_rows": self.error_rows, "errors": self.errors, "ignored_columns": self.ignored_columns}


def _read(source) -> bytes:
    """Read at most max_bytes() + 1 bytes from bytes, a file object or an UploadedFile."""
    limit = max_bytes()
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        size = getattr(source, "size", None)
        if size is not None and size > limit:
            raise _too_large(size)
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(limit + 1)
    if len(data) > limit:
        raise _too_large(len(data))
    return data


def _too_large(size: int) -> Invalid:
    return Invalid(_("Het bestand is te groot (%(size)s bytes). Het mag hoogstens %(max_bytes)s bytes zijn. "
                     "Maak er kleinere bestanden van.") % {"size": size, "max_bytes": max_bytes()},
                   code="csv_too_large", extra={"max_bytes": max_bytes(), "size": size})


def _decode(data: bytes) -> str:
    if not data or not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise Invalid(_("Het bestand is leeg."), code="csv_empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid(_("Het bestand is geen UTF-8 (regel %(line)s). Sla het op als 'CSV UTF-8' en probeer "
                        "het opnieuw.") % {"line": line},
                      code="csv_encoding", extra={"line": line, "byte": exc.start}) from None
    if "\x00" in text:
        raise Invalid(_("Het bestand bevat NUL-tekens. Het is geen CSV-tekstbestand."), code="csv_not_text")
    return text


def _dialect(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _error(result: ImportResult, row: int, field_: str, code: str, message: str) -> None:
    if len(result.errors) < MAX_ERRORS_REPORTED:
        result.errors.append({"row": row, "field": field_, "code": code, "message": message})


def clients_import_csv(*, district: District, source) -> ImportResult:
    """Create or update the clients of `district` from a CSV file (bytes or file object)."""
    text = _decode(_read(source))
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(first_line), strict=True)
    try:
        header_raw = next(reader)
    except (StopIteration, csv.Error):
        raise Invalid(_("Het bestand heeft geen eerste regel met de namen van de kolommen."),
                      code="csv_no_header") from None
    header = [h.strip().lower() for h in header_raw]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise Invalid(_("Deze kolommen ontbreken: %(missing)s. De eerste regel moet zijn: %(required)s "
                        "(eventueel met %(optional)s).") % {"missing": ", ".join(missing),
                                                           "required": ",".join(REQUIRED_COLUMNS),
                                                           "optional": ",".join(OPTIONAL_COLUMNS)},
                      code="csv_missing_columns", extra={"missing": missing, "found": header})
    duplicates = sorted({h for h in header if h and header.count(h) > 1})
    if duplicates:
        raise Invalid(_("Deze kolommen staan er twee keer in: %(columns)s.") % {"columns": ", ".join(duplicates)},
                      code="csv_duplicate_columns", extra={"duplicates": duplicates})
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    result = ImportResult(ignored_columns=[h for h in header if h not in known])
    index = {name: header.index(name) for name in header if name in known}
    present_optional = [c for c in OPTIONAL_COLUMNS if c in index]

    rows: list[tuple[int, dict]] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue  # blank line
            if len(rows) + result.error_rows >= max_rows():
                raise Invalid(_("Het bestand heeft meer dan %(max_rows)s regels. Maak er kleinere bestanden van.")
                              % {"max_rows": max_rows()},
                              code="csv_too_many_rows", extra={"max_rows": max_rows()})
            if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
                _error(result, line, "", "too_many_fields",
                       _("Deze regel heeft %(fields)s kolommen. De eerste regel heeft er %(header)s.")
                       % {"fields": len(fields), "header": len(header)})
                result.error_rows += 1
                continue
            values = {name: (fields[i].strip() if i < len(fields) else "") for name, i in index.items()}
            rows.append((line, values))
    except csv.Error as exc:
        raise Invalid(_("Het bestand is geen geldige CSV, bij regel %(line)s: %(error)s.")
                      % {"line": reader.line_num, "error": exc}, code="csv_malformed",
                      extra={"line": reader.line_num}) from None

    valid = _validate(rows, district, present_optional, result)
    _write(valid, district, present_optional, result)
    return result


def _validate(rows, district, present_optional, result) -> list[tuple[int, dict]]:
    counts: dict[str, list[int]] = {}
    for line, values in rows:
        if values["client_number"]:
            counts.setdefault(values["client_number"], []).append(line)
    usernames = {v["consultant"] for _l, v in rows if v.get("consultant")}
    User = get_user_model()
    consultants = {
        u.get_username(): u
        for u in User.objects.filter(username__in=usernames, groups__name=CONSULTANT, is_active=True)
    } if usernames else {}
    in_district = set(district.consultants.filter(pk__in=[u.pk for u in consultants.values()])
                      .values_list("pk", flat=True)) if consultants else set()
    numbers = [v["client_number"] for _l, v in rows if v["client_number"]]
    elsewhere: dict[str, str] = {}
    for start in range(0, len(numbers), 2000):
        chunk = numbers[start:start + 2000]
        elsewhere.update(Client.objects.filter(client_number__in=chunk).exclude(district=district)
                         .values_list("client_number", "district__name"))

    valid = []
    for line, values in rows:
        errors: list[tuple[str, str, str]] = []
        for name in REQUIRED_COLUMNS:
            if not values[name]:
                errors.append((name, "required", _("De kolom %(column)s is leeg.") % {"column": name}))
        for name, limit in MAX_LENGTHS.items():
            if len(values.get(name, "")) > limit:
                errors.append((name, "too_long", _("De kolom %(column)s is langer dan %(limit)s tekens.")
                               % {"column": name, "limit": limit}))
        number = values["client_number"]
        if number and len(counts.get(number, ())) > 1:
            others = [r for r in counts[number] if r != line]
            errors.append(("client_number", "duplicate_in_file",
                           _("Klantnummer %(number)s staat meer dan één keer in het bestand (ook op regel "
                             "%(rows)s).") % {"number": number, "rows": ", ".join(map(str, others[:10]))}))
        if number in elsewhere:
            errors.append(("client_number", "client_other_district",
                           _("Klantnummer %(number)s hoort al bij een andere wijk.") % {"number": number}))
        language = values["language"].lower()
        values["language"] = language
        if language and language not in LANGUAGE_CODES:
            errors.append(("language", "unknown_language",
                           _("De taal '%(language)s' kennen we niet. Kies uit: %(languages)s.")
                           % {"language": values["language"], "languages": ", ".join(sorted(LANGUAGE_CODES))}))
        if values.get("email"):
            try:
                validate_email(values["email"])
            except ValidationError:
                errors.append(("email", "invalid_email",
                               _("'%(email)s' is geen geldig e-mailadres.") % {"email": values["email"]}))
        username = values.get("consultant")
        if username:
            user = consultants.get(username)
            if user is None:
                errors.append(("consultant", "unknown_consultant",
                               _("Er is geen actieve consulent met de gebruikersnaam '%(username)s'.")
                               % {"username": username}))
            elif user.pk not in in_district:
                errors.append(("consultant", "consultant_other_district",
                               _("Consulent '%(username)s' werkt niet in wijk %(district)s.")
                               % {"username": username, "district": district.name}))
            else:
                values["consultant_obj"] = user
        if errors:
            result.error_rows += 1
            for field_, code, message in errors:
                _error(result, line, field_, code, message)
        else:
            valid.append((line, values))
    return valid


def _write(valid, district, present_optional, result) -> None:
    if not valid:
        return
    fields = ["given_name", "family_name", "language"]
    fields += [c for c in ("email", "phone") if c in present_optional]
    try:
        with transaction.atomic():
            numbers = [v["client_number"] for _l, v in valid]
            existing: dict[str, Client] = {}
            for start in range(0, len(numbers), 2000):
                chunk = numbers[start:start + 2000]
                for client in Client.objects.select_for_update().filter(client_number__in=chunk):
                    existing[client.client_number] = client
            to_create, to_update = [], []
            for _line, values in valid:
                client = existing.get(values["client_number"])
                if client is not None and client.district_id != district.pk:
                    # Moved to another district since validation (a concurrent import).
                    raise Conflict(_("Tijdens het importeren zijn klanten veranderd. Probeer het opnieuw."),
                                   code="import_conflict")
                new = {name: values[name] for name in fields}
                if "consultant" in present_optional:
                    user = values.get("consultant_obj")
                    new["consultant_id"] = user.pk if user else None
                if client is None:
                    to_create.append(Client(client_number=values["client_number"], district=district, **new))
                    continue
                changed = [name for name, value in new.items() if getattr(client, name) != value]
                if changed:
                    for name in changed:
                        setattr(client, name, new[name])
                    to_update.append(client)
                else:
                    result.unchanged += 1
            Client.objects.bulk_create(to_create, batch_size=1000)
            update_fields = fields + (["consultant"] if "consultant" in present_optional else []) + ["updated_at"]
            now = timezone.now()
            for client in to_update:
                client.updated_at = now
            Client.objects.bulk_update(to_update, update_fields, batch_size=500)
            result.created = len(to_create)
            result.updated = len(to_update)
            # bulk writes bypass the model signals: one audit event for the whole import
            audit_record(action="import", object_type="client", object_id=f"district:{district.pk}",
                         detail={"created": result.created, "updated": result.updated,
                                 "error_rows": result.error_rows})
    except IntegrityError:
        # Another import created the same client number at the same moment.
        raise Conflict(_("Tijdens het importeren zijn klanten veranderd. Probeer het opnieuw."),
                       code="import_conflict") from None
