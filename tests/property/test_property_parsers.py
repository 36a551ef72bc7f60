"""Every parser of untrusted input, fed what hypothesis makes up: only bbwizard's own errors
(``bbwizard.errors.*``, each a sentence) come out, nothing hangs (hypothesis' deadline, pytest's
timeout), accepted values round-trip, and nothing of a server's text reaches a terminal with a
control character in it.

The profile is tests/conftest.py's ``ci``: 200 cases a test, derandomized, so a run is repeatable.
"""

from __future__ import annotations

import json
import string
import unicodedata
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbwizard import api, net, oauth
from bbwizard.errors import BBWizardError, CodeError, ProtocolError, UsageError
from bbwizard.git.credential import format_credential, parse_credential_request
from bbwizard.git.refs import clone_url, parse_repository_ref
from bbwizard.secret import printable

pytestmark = pytest.mark.timeout(300)

STATE = "s" * 43
CODE_ALPHABET = string.ascii_letters + string.digits + "._~+/=-"
#: What printable must never let through: C0 and C1 controls (but tab and newline), DEL, the
#: Unicode line separators and every bidi control.
FORBIDDEN = set(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])) | set(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25,
)
hostile_text = st.lists(
    st.characters(codec="utf-8") | st.sampled_from(sorted(FORBIDDEN)) | st.sampled_from(["\x1b]52;c;", "\x1b[2J", "\x1b]0;", "\x1b\\"]),
    max_size=60,
).map("".join)


# --- printable ----------------------------------------------------------------------------------


@given(hostile_text)
def test_no_control_character_survives_printable(text: str) -> None:
    shown = printable(text)
    assert not (set(shown) & FORBIDDEN), [hex(ord(c)) for c in set(shown) & FORBIDDEN]
    assert "\x1b" not in shown
    assert printable(shown) == shown  # cleaning twice changes nothing


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs")), max_size=80))
def test_printable_keeps_ordinary_text(text: str) -> None:
    assert printable(text) == text


# --- pasted codes and addresses -----------------------------------------------------------------


@given(st.text(max_size=300), st.sampled_from([STATE, None]))
def test_pasted_text_is_a_code_or_a_code_error(text: str, expected: str | None) -> None:
    try:
        pasted = oauth.parse_pasted(text, expected)
    except CodeError:
        return
    except BBWizardError as error:  # Deny clicked, in a pasted address
        assert type(error).__name__ == "AuthorizationDenied"
        return
    assert pasted.code and all(c in CODE_ALPHABET for c in pasted.code)
    if expected and pasted.state is not None:
        assert pasted.state == expected


@given(st.text(alphabet=CODE_ALPHABET, min_size=1, max_size=60), st.integers(min_value=0, max_value=200),
       st.sampled_from(["{}", " {} ", "'{}'", '"{}"\n']))
def test_a_redirect_address_round_trips_wherever_a_line_break_falls(code: str, cut: int, quoting: str) -> None:
    from urllib.parse import quote

    landed = f"http://localhost:8976/?code={quote(code, safe='')}&state={STATE}"
    cut = min(cut, len(landed))
    wrapped = quoting.format(landed[:cut] + "\n" + landed[cut:])
    assert oauth.parse_pasted(wrapped, STATE).code == code
    # Its start alone is never taken for a code of its own.
    start = landed[: landed.index("&state=") + len("&state=") + 3]
    with pytest.raises(oauth.IncompletePaste):
        oauth.parse_pasted(start[: max(cut, landed.index("?code=") + len("?code=") + 1)], STATE)


# --- git's credential protocol ------------------------------------------------------------------


@given(st.text(max_size=400))
def test_a_credential_request_parses_into_keys_without_line_breaks(text: str) -> None:
    request = parse_credential_request(text)
    for key, value in request.items():
        assert "\n" not in key and "\n" not in value


@given(st.dictionaries(
    st.text(alphabet=string.ascii_lowercase + "[]_", min_size=1, max_size=12),
    st.text(alphabet=st.characters(blacklist_characters="\n\r\x00"), max_size=40),
    max_size=8,
))
def test_a_credential_answer_round_trips(answer: dict[str, str]) -> None:
    answer = {key.strip(): value for key, value in answer.items() if key.strip() and key.strip() == key}
    text = format_credential(answer)
    assert parse_credential_request(text) == answer


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5))
def test_a_credential_answer_with_a_line_break_is_refused_not_written(answer: dict[str, str]) -> None:
    try:
        text = format_credential(answer)
    except BBWizardError:
        return
    assert text.count("\n") == len(answer)


# --- repository references ----------------------------------------------------------------------


_name = st.text(
    alphabet=st.characters(blacklist_categories=("C", "Z"), blacklist_characters="/\\:*?\"<>|%#"), min_size=1, max_size=20
).filter(lambda s: s not in (".", "..") and not s.endswith(".git"))


@given(st.text(max_size=200), st.sampled_from([None, "https://bitbucket.org", "http://127.0.0.1:8080"]))
def test_a_repository_reference_is_a_ref_or_a_usage_error(text: str, site: str | None) -> None:
    try:
        ref = parse_repository_ref(text, site_url=site)
    except UsageError:
        return
    for part in ref:
        assert part and part not in (".", "..") and "/" not in part and not part.startswith(" ")
        assert not any(unicodedata.category(c)[0] in "CZ" for c in part)


@given(_name, _name)
def test_a_reference_formatted_and_parsed_again_is_the_same(workspace: str, slug: str) -> None:
    workspace, slug = unicodedata.normalize("NFC", workspace), unicodedata.normalize("NFC", slug)
    site = "https://bitbucket.org"
    assert tuple(parse_repository_ref(f"{workspace}/{slug}")) == (workspace, slug)
    assert tuple(parse_repository_ref(clone_url(site, workspace, slug), site_url=site)) == (workspace, slug)


# --- token answers ------------------------------------------------------------------------------


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _answer(body: bytes, status: int = 200, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()), st.sampled_from(["application/json", "text/html", ""]))
def test_a_token_answer_is_tokens_or_a_protocol_error(body: bytes, content_type: str) -> None:
    try:
        tokens = oauth.parse_token_answer(_answer(body, content_type=content_type), T0)
    except ProtocolError:
        return
    assert tokens.access_token and tokens.expires_at > T0


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=60),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=60),
    st.integers(min_value=1, max_value=366 * 24 * 3600),
    st.lists(st.sampled_from(["account", "repository", "repository:write", "pullrequest", "email"]), unique=True),
)
def test_a_good_token_answer_gives_what_it_says(access: str, refresh: str, expires_in: int, scopes: list[str]) -> None:
    body = {"access_token": access, "refresh_token": refresh, "expires_in": expires_in, "token_type": "bearer",
            "scopes": " ".join(scopes)}
    tokens = oauth.parse_token_answer(_answer(json.dumps(body).encode()), T0)
    assert tokens.access_token.reveal() == access and tokens.refresh_token.reveal() == refresh
    assert tokens.expires_at == T0 + timedelta(seconds=expires_in)
    assert sorted(tokens.scopes) == sorted(scopes)


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
       st.sampled_from([400, 401, 403, 404, 429, 500, 502, 503]))
def test_a_refused_token_request_is_one_of_our_sentences(body: bytes, status: int) -> None:
    from bbwizard.oauth import _Answer, _token_error

    try:
        error = _token_error(_Answer(status=status, content_type="application/json", body=body), "refresh")
    except BBWizardError as raised:  # no JSON at all: said as such
        error = raised
    assert isinstance(error, BBWizardError) and error.message
    assert not (set(str(error)) & FORBIDDEN - {"\n"})


# --- pagination envelopes and repository objects ------------------------------------------------


@given(json_values)
def test_a_repository_object_is_a_repository_or_a_protocol_error(data) -> None:
    for parse in (api.parse_repository, api.parse_workspace, api.parse_branch, api.parse_workspace_access, net.parse_user):
        try:
            parse(data)
        except ProtocolError:
            pass


@given(st.dictionaries(st.sampled_from(["values", "next", "size", "page", "pagelen", "previous"]), json_values, max_size=6))
def test_a_pagination_envelope_gives_a_list_and_a_link_or_a_protocol_error(page: dict) -> None:
    try:
        values = api._values(page, "the repositories")
        assert isinstance(values, list)
    except ProtocolError:
        pass
    try:
        link = api._next_link(page, "the repositories")
        assert link is None or isinstance(link, str)
    except ProtocolError:
        pass


@given(
    st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=30),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=30),
    st.text(max_size=60),
    st.booleans(),
)
def test_a_repository_object_round_trips(workspace: str, slug: str, name: str, private: bool) -> None:
    data = {"type": "repository", "full_name": f"{workspace}/{slug}", "slug": slug, "name": name or slug,
            "is_private": private, "uuid": "{0d1b6c7e-0000-4000-8000-000000000001}", "workspace": {"slug": workspace}, "mainbranch": {"name": "main"}}
    repository = api.parse_repository(data)
    assert (repository.workspace, repository.slug, repository.is_private) == (workspace, slug, private)


# --- server error bodies ------------------------------------------------------------------------


@given(json_values)
def test_an_error_body_gives_a_message_and_a_detail(payload) -> None:
    message, _detail = net.error_detail(payload)
    assert isinstance(message, str)


@given(st.binary(max_size=500), st.integers(min_value=100, max_value=599), st.sampled_from(["text/html", "application/json", "", "text/plain"]))
def test_a_body_that_is_not_json_is_a_sentence_without_controls(body: bytes, status: int, content_type: str) -> None:
    error = net.not_json(body, status=status, content_type=content_type, speaker="Bitbucket", check="the site URL")
    assert isinstance(error, ProtocolError) and error.message
    assert not (set(error.message) & FORBIDDEN)


@given(st.text(max_size=60) | st.none() | st.integers(min_value=-10**30, max_value=10**30).map(str)
       | st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")))
def test_retry_after_is_a_bounded_number_or_none(value: str | None) -> None:
    seconds = net.retry_after_seconds(value, T0)
    assert seconds is None or seconds >= 0
    assert 0 <= net.retry_delay(value, 1) <= net.MAX_RETRY_DELAY * 1.5


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c"])
def test_a_value_holding_a_unicode_line_separator_names_no_other_host(separator: str) -> None:
    # Found by test_a_credential_answer_round_trips: git ends lines at "\n" only.
    request = parse_credential_request(f"protocol=https\nhost=evil.example\npath=a{separator}host=bitbucket.org\n\n")
    assert request["host"] == "evil.example"
    assert request["path"] == f"a{separator}host=bitbucket.org"
