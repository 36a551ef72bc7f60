"""A careless user runs a sign-in command copied from somewhere, with `--site-url` of another
site: the consumer secret saved for the profile's own site must not be sent there."""

from __future__ import annotations

from bbwizard.emulator import DEMO_CONSUMER_SECRET

TOKEN_PATH = "/site/oauth2/access_token"


def test_the_saved_secret_is_not_sent_to_another_site(emulator, emulator_factory, signed_in, bbw, config_file):
    signed_in(emulator)  # profile "work": the demo consumer on the first emulator
    saved = config_file.read_bytes()
    elsewhere = emulator_factory()  # a stranger's server, standing in for any other site
    done = bbw("login", "--site-url", elsewhere.site_url, "--api-url", elsewhere.api_url, "--client-credentials")
    assert done.returncode == 2, done.stderr
    assert ("X The consumer's secret is needed: pass --secret-stdin and write it on stdin (stdin is not a "
            "terminal, so bbwizard can't ask).") in done.stderr
    assert elsewhere.stats.count(TOKEN_PATH) == 0  # nothing, the secret least of all, reached it
    assert DEMO_CONSUMER_SECRET not in done.stderr + done.stdout
    assert config_file.read_bytes() == saved


def test_signing_in_again_on_the_same_site_still_reuses_the_saved_secret(emulator, signed_in, bbw, config_file):
    emulator.client_credentials_refusal = "legacy"  # the "marked as public" text proves the secret right
    signed_in(emulator)
    saved = config_file.read_bytes()
    done = bbw("login", "--client-credentials")  # no secret given: the saved one is used
    assert "Using the consumer key saved in profile 'work' (--key to use another)." in done.stderr
    # Bitbucket accepted the saved key and secret (the demo consumer is public, so no token).
    assert "✓ The key and secret are right. This consumer is public, so the browser sign-in comes next." in done.stderr
    assert "X This consumer is public, so it can't get a token without the browser." in done.stderr
    assert done.returncode == 1
    assert config_file.read_bytes() == saved
