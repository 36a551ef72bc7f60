"""A refresh meets a bad day (security.md's bad-input list: 429 then success, 503 then success, a
token endpoint answering HTML, truncated JSON, an answer lost on the way back). Each time: one
sentence, no token on stdout or stderr, the saved pair kept, and the next run works."""

from __future__ import annotations

import tomllib

import pytest

TOKEN_PATH = "/site/oauth2/access_token"

CASES = {
    "429": ({"kind": "status", "status": 429, "retry_after": 1}, "X Bitbucket is rate-limiting this consumer (HTTP 429"),
    "503": ({"kind": "status", "status": 503}, "X Bitbucket's token endpoint failed (HTTP 503)"),
    "html": ({"kind": "html200"}, "X Bitbucket's token endpoint answered with a web page instead of JSON (HTTP 200)"),
    "truncated": ({"kind": "truncated"}, "X Bitbucket's token endpoint sent an answer that was cut off or malformed"),
    "lost": ({"kind": "drop_after"}, "The refresh may have reached Bitbucket; if the next try says the sign-in has ended, run: bbwizard login --profile work"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_refresh_is_a_sentence_and_the_next_run_works(emulator, signed_in, bbw, config_file, case):
    fault, sentence = CASES[case]
    store, before = signed_in(emulator, expired=True)
    emulator.inject(path_prefix=TOKEN_PATH, **fault)
    first = bbw("token")
    assert first.returncode == 1, first.stderr
    assert first.stdout == ""
    assert sentence in first.stderr
    assert "Unexpected error" not in first.stderr and "Traceback" not in first.stderr
    for secret in (before.access_token, before.refresh_token, before.client_secret):
        assert secret.reveal()[:12] not in first.stderr
    saved = tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]
    assert saved["refresh_token"] == before.refresh_token.reveal()  # nothing lost
    second = bbw("token")
    assert second.returncode == 0, second.stderr
    assert emulator.token_info(second.stdout.strip())["expired"] is False
