import pytest
from django.test import override_settings

from backend.auth import CONSULTANT
from backend.errors import Invalid
from events.imports import clients_import_csv
from events.models import Client
from tests import factories as f

HEADER = "client_number,given_name,family_name,language"


def run(district, text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return clients_import_csv(district=district, source=data)


def codes(result):
    return [(e["row"], e["field"], e["code"]) for e in result.errors]


def test_creates_clients_with_names_in_any_script(district):
    result = run(district, f"{HEADER}\nA1,Ayşe,Şahin,tr\nA2,Zoë,Brontë,nl\nA3,محمد,العلي,ar\n")
    assert (result.created, result.updated, result.errors) == (3, 0, [])
    assert Client.objects.get(client_number="A3").given_name == "محمد"
    assert Client.objects.get(client_number="A1").family_name == "Şahin"
    assert set(Client.objects.values_list("district", flat=True)) == {district.pk}


def test_bom_semicolons_and_header_case_are_accepted(district):
    data = "\ufeffClient_Number;Given_Name;Family_Name;Language\r\nB1;Jan;de Vries;NL\r\n".encode()
    result = run(district, data)
    assert result.created == 1 and result.errors == []
    assert Client.objects.get(client_number="B1").language == "nl"


def test_update_by_client_number_and_unchanged_rows(district):
    run(district, f"{HEADER},email\nA1,Ayse,Kaya,nl,a@example.nl\nA2,Jan,Smit,nl,\n")
    result = run(district, f"{HEADER}\nA1,Ayşe,Kaya,tr\nA2,Jan,Smit,nl\nA3,Nieuw,Mens,en\n")
    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    a1 = Client.objects.get(client_number="A1")
    assert (a1.given_name, a1.language) == ("Ayşe", "tr")
    assert a1.email == "a@example.nl"  # the column was absent: left alone
    result = run(district, f"{HEADER},email\nA1,Ayşe,Kaya,tr,\n")
    assert result.updated == 1 and Client.objects.get(client_number="A1").email == ""  # present + empty: cleared


def test_missing_column_is_a_file_error_and_writes_nothing(district):
    with pytest.raises(Invalid) as exc:
        run(district, "client_number,given_name,language\nA1,Jan,nl\n")
    assert exc.value.code == "csv_missing_columns"
    assert exc.value.extra["missing"] == ["family_name"]
    assert Client.objects.count() == 0


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"  \r\n"])
def test_empty_file(district, data):
    with pytest.raises(Invalid) as exc:
        run(district, data)
    assert exc.value.code == "csv_empty"


def test_wrong_encoding_is_a_clear_file_error(district):
    data = f"{HEADER}\nA1,Jan,Smit,nl\nA2,Zoë,Şahin,nl\n".encode("utf-8").replace("Zoë".encode(), "Zoë".encode("latin-1"))
    with pytest.raises(Invalid) as exc:
        run(district, data)
    assert exc.value.code == "csv_encoding"
    assert exc.value.extra["line"] == 3
    assert "UTF-8" in exc.value.message
    assert Client.objects.count() == 0


def test_per_row_errors_skip_the_row_entirely(district, consultant):
    text = (f"{HEADER},email,phone,consultant\n"
            "A1,Ayşe,Kaya,nl,ayse@example.nl,0612345678,consultant\n"  # ok
            "A2,Jan,Smit,xx,,,\n"  # unknown language
            "A3,Piet,Jansen,nl,not-an-email,,\n"  # invalid e-mail
            "D1,Een,Dubbel,nl,,,\n"  # duplicate ...
            "D1,Twee,Dubbel,nl,,,\n"  # ... of each other
            "A4,,Leeg,nl,,,\n"  # empty given name
            "A5,Kees,Bakker,nl,,,nobody\n"  # unknown consultant
            "A6,Noor,Haddad,ar,,,\n")  # ok
    result = run(district, text)
    assert result.created == 2
    assert set(Client.objects.values_list("client_number", flat=True)) == {"A1", "A6"}
    assert codes(result) == [
        (3, "language", "unknown_language"),
        (4, "email", "invalid_email"),
        (5, "client_number", "duplicate_in_file"),
        (6, "client_number", "duplicate_in_file"),
        (7, "given_name", "required"),
        (8, "consultant", "unknown_consultant"),
    ]
    assert result.error_rows == 6
    a1 = Client.objects.get(client_number="A1")
    assert (a1.consultant, a1.phone, a1.email) == (consultant, "0612345678", "ayse@example.nl")
    assert all(set(e) == {"row", "field", "code", "message"} and e["message"] for e in result.errors)


def test_a_bad_row_for_an_existing_client_changes_nothing_of_it(district):
    run(district, f"{HEADER},email\nA1,Ayşe,Kaya,nl,a@example.nl\n")
    result = run(district, f"{HEADER},email\nA1,Veranderd,Anders,nl,kapot\n")
    assert result.updated == 0 and codes(result) == [(2, "email", "invalid_email")]
    a1 = Client.objects.get(client_number="A1")
    assert (a1.given_name, a1.family_name, a1.email) == ("Ayşe", "Kaya", "a@example.nl")


def test_client_number_of_another_district_is_a_row_error(district, other_district):
    f.client(other_district, number="Z1", given="Zuid")
    result = run(district, f"{HEADER}\nZ1,Overname,Poging,nl\nN1,Gewoon,Nieuw,nl\n")
    assert codes(result) == [(2, "client_number", "client_other_district")]
    assert result.created == 1
    z1 = Client.objects.get(client_number="Z1")
    assert (z1.district, z1.given_name) == (other_district, "Zuid")


def test_consultant_of_another_district_is_a_row_error(district, other_consultant):
    result = run(district, f"{HEADER},consultant\nA1,Jan,Smit,nl,consultant_zuid\n")
    assert codes(result) == [(2, "consultant", "consultant_other_district")]


def test_a_user_without_the_consultant_role_is_not_a_consultant(district, coordinator):
    district.consultants.add(coordinator)
    result = run(district, f"{HEADER},consultant\nA1,Jan,Smit,nl,coordinator\n")
    assert codes(result) == [(2, "consultant", "unknown_consultant")]


def test_too_many_fields_and_short_rows(district):
    result = run(district, f"{HEADER}\nA1,Jan,Smit,nl,extra\nA2,Jan\n")
    assert codes(result) == [(2, "", "too_many_fields"), (3, "family_name", "required"),
                             (3, "language", "required")]
    assert result.created == 0


@override_settings(VM_IMPORT_MAX_BYTES=200)
def test_size_limit(district):
    rows = "".join(f"A{i},Jan,Smit,nl\n" for i in range(20))
    with pytest.raises(Invalid) as exc:
        run(district, f"{HEADER}\n{rows}")
    assert exc.value.code == "csv_too_large"
    assert Client.objects.count() == 0


@override_settings(VM_IMPORT_MAX_ROWS=5)
def test_row_limit(district):
    rows = "".join(f"A{i},Jan,Smit,nl\n" for i in range(6))
    with pytest.raises(Invalid) as exc:
        run(district, f"{HEADER}\n{rows}")
    assert exc.value.code == "csv_too_many_rows"
    assert Client.objects.count() == 0


def test_binary_garbage_is_rejected(district):
    with pytest.raises(Invalid) as exc:
        run(district, b"client_number\x00\x01\x02,given_name")
    assert exc.value.code in {"csv_not_text", "csv_missing_columns"}


def test_unknown_columns_are_reported_and_ignored(district):
    result = run(district, f"{HEADER},bsn\nA1,Jan,Smit,nl,123456789\n")
    assert result.created == 1 and result.ignored_columns == ["bsn"]


def test_large_import_is_one_batch(district, django_assert_max_num_queries):
    user = f.user("c2", CONSULTANT, districts=(district,))
    rows = "".join(f"N{i:05d},Naam{i},Achternaam,nl,c2\n" for i in range(3000))
    with django_assert_max_num_queries(100):  # batches, never one per row
        result = run(district, f"{HEADER},consultant\n{rows}")
    assert result.created == 3000
    assert Client.objects.filter(consultant=user).count() == 3000
