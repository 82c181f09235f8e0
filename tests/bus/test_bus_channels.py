"""Channel names and patterns: checks naming the bad token, matching, inboxes, patterns."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devspark.bus.channels import check_channel, check_name, check_pattern, inbox, matches
from devspark.bus.envelope import make
from devspark.core.errors import InvalidArgumentError


@pytest.mark.parametrize("channel", ["team", "team.red.moves", "a-b_c.D9", "x" * 64])
def test_check_channel_accepts_dotted_tokens(channel: str) -> None:
    assert check_channel(channel) == channel


@pytest.mark.parametrize(
    ("channel", "token"),
    [
        ("team..red", "''"),
        ("team.red.", "''"),
        ("team red", "'team red'"),
        ("team.*", "'*'"),
        ("team.>", "'>'"),
        ("team.réd", "'réd'"),
        ("a." + "x" * 65, "'" + "x" * 65 + "'"),
    ],
)
def test_check_channel_names_the_bad_token(channel: str, token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="bad token") as caught:
        check_channel(channel)
    assert f"bad token {token}" in str(caught.value)


@pytest.mark.parametrize("channel", ["", "a." * 130])
def test_check_channel_refuses_empty_and_overlong(channel: str) -> None:
    with pytest.raises(InvalidArgumentError, match="1-255 characters"):
        check_channel(channel)


@pytest.mark.parametrize("pattern", ["team.*", "team.*.moves", "*", ">", "team.>", "*.>"])
def test_check_pattern_accepts_wildcards(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    ("pattern", "token"),
    [("team.>.moves", "'>'"), ("team.r*", "'r*'"), ("team.#", "'#'"), ("team..*", "''")],
)
def test_check_pattern_names_the_bad_token_and_the_wildcard_rules(pattern: str, token: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_pattern(pattern)
    assert f"bad token {token}" in str(caught.value)
    assert "'>' last" in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "channel", "expected"),
    [
        ("team.red", "team.red", True),
        ("team.red", "team.redx", False),
        ("team.red", "team", False),
        ("team.red", "team.red.moves", False),
        ("team.*", "team.red", True),
        ("team.*", "team.red.moves", False),  # '*' is exactly one token, not two
        ("team.*", "team", False),  # ... and not zero
        ("team.*.moves", "team.red.moves", True),
        ("team.*.moves", "team.red.chat", False),
        ("*", "team", True),
        ("*", "team.red", False),
        ("team.>", "team.red", True),
        ("team.>", "team.red.moves.1", True),  # '>' is one or more tokens
        ("team.>", "team", False),  # ... not zero
        (">", "anything.at.all", True),
        ("*.>", "team", False),
        ("*.>", "team.red", True),
    ],
)
def test_matches_follows_the_nats_rules(pattern: str, channel: str, expected: bool) -> None:
    assert matches(pattern, channel) is expected


def test_inbox_is_a_valid_channel_and_unique_per_name() -> None:
    names = ["agent:ada/bot@1.0.0", "agent:ada/bot@1.0.1", "agent_ada_bot_1_0_0", "a" * 128]
    inboxes = [inbox(name) for name in names]
    assert len(set(inboxes)) == len(names)  # same readable part, different hash
    for name, box in zip(names, inboxes, strict=True):
        assert check_channel(box) == box
        assert box.startswith("inbox.")
        assert box == inbox(name)  # stable
    assert inboxes[0].startswith("inbox.agent_ada_bot_1_0_0-")


def test_inbox_of_an_empty_name_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="empty name"):
        inbox("")


@pytest.mark.parametrize("name", ["", "agent ada", "a" * 129, "ada;drop"])
def test_check_name_refuses_bad_names_and_quotes_them(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_name(name)
    assert repr(name) in str(caught.value)


def _accepts(check: Callable[[str], str], text: str) -> bool:
    try:
        check(text)
    except InvalidArgumentError:
        return False
    return True


_TEXT = st.text(alphabet="ab-_.*>:/@ \n\té", max_size=70) | st.builds(
    lambda n, t: ".".join([t] * n),
    st.integers(1, 5),
    st.text(alphabet="ab", min_size=60, max_size=70),
)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_the_envelope_s_compiled_patterns_agree_with_the_python_checks(text: str) -> None:
    as_channel = _accepts(check_channel, text)
    assert _accepts(lambda c: make(c).channel, text) is as_channel  # channel
    assert _accepts(lambda c: make("a", reply_to=c).channel, text) is as_channel  # reply_to
    as_name = text == "" or _accepts(check_name, text)
    assert _accepts(lambda n: make("a", sender=n).channel, text) is as_name
    assert _accepts(lambda n: make("a", to=n).channel, text) is as_name
