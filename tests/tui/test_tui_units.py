"""Small pure pieces of the wizard: what the list draws from network text, and the field rules."""

from __future__ import annotations

import dataclasses

from bbwizard.api import Repository
from bbwizard.tui.screens.consumer import field_problems
from bbwizard.tui.widgets.repository_list import RepositoryRow, subsequence_pattern


def test_network_text_loses_control_sequences_and_bidi_overrides():
    repo = Repository(uuid="{1}", full_name="acme/evil", slug="evil", name="evil\x1b]52;c;QUFB\x07name\u202egnp.exe",
                      workspace="acme", language="py\x9bthon", project_name="[bold]Web[/]")
    row = RepositoryRow.from_repository(repo)
    assert "\x1b" not in row.name and "\x07" not in row.name and "\u202e" not in row.name
    # The whole OSC 52 goes (its clipboard payload too), not only its control bytes; the bidi
    # override becomes a space.
    assert row.name == "evilname gnp.exe"
    assert "QUFB" not in row.name and "52;" not in row.name
    # A C1 CSI (0x9b) goes with its final byte: no CSI is left for a terminal to act on.
    assert row.language == "pyhon"
    assert row.project == "[bold]Web[/]"  # kept as text: the list never parses markup


def test_fuzzy_filter_matches_letters_in_order_within_one_field():
    pattern = subsequence_pattern("wbp")
    assert pattern.search("webapp\twebapp\tweb\tpython")
    assert not pattern.search("web\tbilling\tpay\tgo")  # w, b, p spread over three fields: no match
    assert subsequence_pattern("   ") is None


def test_consumer_fields_are_named_when_wrong():
    assert field_problems("work", "KEY", True, "http://localhost:8976/") == {}
    problems = field_problems("bad name!", "has space", False, "localhost:8976")
    assert problems == {
        "name": "A profile name uses letters, digits, dots, dashes and underscores only.",
        "key": "The key has spaces in it; copy it again from Bitbucket.",
        "secret": "Paste the consumer's Secret (shown under the key in Bitbucket).",
        "callback": "The callback URL must be an http:// or https:// address, like http://localhost:8976/.",
    }


def test_a_live_code_stays_out_of_the_flow_records_reprs():
    # Textual's crash report prints locals, and with them these records: the code must not show.
    from bbwizard.tui.app import FlowState
    from bbwizard.tui.screens.authorize import CodeCaught

    code = "live-code-4f9a8b7c6d5e"
    flow = FlowState(code=code)
    assert code not in repr(flow) and "consumer=None" in repr(flow)
    assert code not in repr(CodeCaught(authorization=None, code=code))
    assert dataclasses.replace(flow, profile=None).code == code  # still a whole record
    # Rich's pretty printer (Textual's crash report) leaves it out too.
    from rich.pretty import pretty_repr

    assert code not in pretty_repr(flow) and code not in pretty_repr({"flow": flow})


def test_the_road_counts_the_steps_taken_on_it():
    from bbwizard.tui.app import STEPS, Road

    assert Road().steps() == ["consumer", "authorize", "token", "repositories", "clone"]
    assert Road(paste=True).heading("code") == "Step 3 of 6 · Paste the code"
    assert Road(own_identity=True).steps() == ["consumer", "token", "repositories", "clone"]
    assert Road(profiles=True, sign_in=False).heading("repositories") == "Step 2 of 3 · Repositories"
    assert Road(profiles=True).heading("clone") == "Step 6 of 6 · Clone"
    assert Road(profiles=True, paste=True).steps() == [  # the longest road
        "profiles", "consumer", "authorize", "code", "token", "repositories", "clone"]
    assert set(Road(profiles=True, paste=True).steps()) <= set(STEPS)  # every step is in the one table
    assert Road().heading("The demo is done") == "The demo is done"  # off the road: its title alone
