"""Property tests (hypothesis) for the token and short-code parser (events/codes.py)."""

import re

from hypothesis import given, settings, strategies as st

from events.codes import (
    CODE_ALPHABET,
    format_code,
    invitation_url,
    new_code,
    new_token,
    normalise_code,
    parse_token,
)

codes = st.text(alphabet=CODE_ALPHABET, min_size=8, max_size=8)
TYPO = {"0": "O", "1": "I"}


@given(codes, st.booleans(), st.booleans(), st.sampled_from(["", " ", "-", "  "]))
def test_a_code_survives_how_people_type_it(code, lower, typos, sep):
    typed = f"{code[:4]}{sep}{code[4:]}"
    if typos:
        typed = "".join(TYPO.get(ch, ch) for ch in typed)
    if lower:
        typed = typed.lower()
    assert normalise_code(typed) == code
    assert normalise_code(format_code(code)) == code


@given(st.text(max_size=64))
def test_normalise_never_raises_and_only_returns_valid_codes(text):
    result = normalise_code(text)
    assert result is None or (len(result) == 8 and set(result) <= set(CODE_ALPHABET))


@settings(max_examples=50)
@given(st.just(None).map(lambda _: new_token()))
def test_a_token_and_its_qr_url_parse_to_the_token(token):
    assert len(token) >= 22  # ≥ 128 bits, URL-safe
    assert parse_token(token) == token
    assert parse_token(invitation_url(token)) == token
    assert parse_token(f"  {invitation_url(token)}/ ") == token
    # The token is the secret, not the host or a path before /i/: a letter printed under
    # another base URL (localhost, a proxy's path prefix) still scans.
    assert parse_token(f"http://localhost:8000/i/{token}") == token
    assert parse_token(f"https://gemeente.example.nl/markt/i/{token}?utm=x#top") == token
    assert parse_token(f"https://example.nl/x/{token}") is None
    assert parse_token(f"https://example.nl/i/{token}/more") is None
    assert parse_token(f"ftp://example.nl/i/{token}") is None


@given(st.text(max_size=600))
def test_parse_token_never_raises_and_returns_a_token_or_none(text):
    result = parse_token(text)
    assert result is None or re.fullmatch(r"[A-Za-z0-9_-]{22,64}", result)


def test_new_codes_are_formatted_as_xxxx_xxxx():
    code = new_code()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", format_code(code))
