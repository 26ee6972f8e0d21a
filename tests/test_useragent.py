"""eljobs.useragent: ua-parser wrapper, WMF bot test, the EventLogging userAgent object."""

from __future__ import annotations

import pytest

from eljobs.useragent import (
    UAParts,
    UserAgentTooLong,
    eventlogging_user_agent,
    is_spider,
    parse_ua,
    rules_version,
)

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 9; SM-G960F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/74.0.3729.157 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:60.0) Gecko/20100101 Firefox/60.0"


def test_parse_ua_fields_from_pinned_rules() -> None:
    parts = parse_ua(CHROME_ANDROID)
    assert isinstance(parts, UAParts)
    assert parts == UAParts("Chrome Mobile", "74", "0", "Samsung SM-G960F", "Android", "9", None)
    assert parse_ua(FIREFOX_LINUX) == UAParts("Firefox", "60", "0", "Other", "Linux", None, None)


def test_parse_ua_unknown_agent_defaults_to_other() -> None:
    assert parse_ua("") == UAParts("Other", None, None, "Other", "Other", None, None)


def test_parse_ua_is_cached() -> None:
    parse_ua.cache_clear()
    parse_ua(FIREFOX_LINUX)
    parse_ua(FIREFOX_LINUX)
    info = parse_ua.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def test_rules_version_names_the_pins() -> None:
    assert "ua-parser 1.0.2" in rules_version()
    assert "ua-parser-builtins 202610" in rules_version()


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", True),  # "bot" anywhere
        ("my-spider/1.0", True),
        ("Foo WordPress/5.2", True),
        ("python-requests/2.22", True),
        ("Mozilla/5.0 http://example.org", True),  # "http" anywhere
        ("curl/7.64.0", True),  # tools count at the start ...
        ("Java/1.8.0_151", True),
        ("PHP/7.2", True),
        ("MediaWiki/1.35", True),
        ("Mozilla/5.0 curl/7.64.0", False),  # ... but not later in the string
        ("Mozilla/5.0 Java", False),
        ("someone@example.org tool", True),  # an e-mail address at the start
        ("tool (someone@example.org)", False),
        (FIREFOX_LINUX, False),
        ("", False),
    ],
)
def test_is_spider(ua: str, expected: bool) -> None:
    assert is_spider(ua) is expected


def test_eventlogging_user_agent_object() -> None:
    obj = eventlogging_user_agent(f'"{CHROME_ANDROID}"')
    assert obj == {
        "browser_family": "Chrome Mobile",
        "browser_major": "74",
        "browser_minor": "0",
        "device_family": "Samsung SM-G960F",
        "os_family": "Android",
        "os_major": "9",
        "os_minor": None,
        "wmf_app_version": "-",
        "is_bot": False,
        "is_mediawiki": False,
    }


def test_eventlogging_user_agent_returns_fresh_dicts() -> None:
    a = eventlogging_user_agent('"x"')
    a["is_bot"] = "changed"
    assert eventlogging_user_agent('"x"')["is_bot"] is False


def test_bot_regex_only_for_device_family_other() -> None:
    # ua-parser says Spider: a bot whatever the regex says.
    assert eventlogging_user_agent('"Googlebot/2.1 (+http://www.google.com/bot.html)"')["is_bot"]
    # Family Other: the WMF regex decides, on the text without its quotes (curl at the start).
    curl = eventlogging_user_agent('"curl/7.64.0"')
    assert curl["device_family"] == "Other" and curl["is_bot"] is True
    # A known device family is never a bot, even if the regex would match ("http").
    phone = eventlogging_user_agent(f'"{CHROME_ANDROID} http"')
    assert phone["device_family"] == "Samsung SM-G960F" and phone["is_bot"] is False


def test_wikipedia_app_version_and_mediawiki() -> None:
    ios = eventlogging_user_agent('"WikipediaApp/5.3.1.1011 (iOS 10.0.2; Phone)"')
    assert ios["wmf_app_version"] == "5.3.1.1011"
    android = eventlogging_user_agent(
        '"WikipediaApp/2.4.160-r-2016-10-14 (Android 4.4.2; Phone) Google Play"'
    )
    assert android["wmf_app_version"] == "2.4.160-r-2016-10-14"
    assert eventlogging_user_agent('"MediaWiki/1.35.0-wmf.1"')["is_mediawiki"] is True
    assert eventlogging_user_agent('"x mediaWIKI y"')["is_mediawiki"] is True


def test_wikipedia_app_quirk_raises_index_error() -> None:
    # First token has no "/": the reference fails with IndexError (a processor error).
    with pytest.raises(IndexError, match="list index out of range"):
        eventlogging_user_agent('"Mozilla WikipediaApp/5.3"')


def test_too_long_user_agent() -> None:
    text = '"' + "a" * 799 + '"'  # 801 characters, quotes included
    with pytest.raises(UserAgentTooLong) as err:
        eventlogging_user_agent(text)
    assert err.value.args[0] == "User Agent string length (801) longer than the allowed 800 chars"
    assert eventlogging_user_agent('"' + "a" * 798 + '"')["browser_family"] == "Other"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"browser": "x"}, "unhashable type: 'dict'"),
        (["x"], "unhashable type: 'list'"),
        (5, "object of type 'int' has no len()"),
        (None, "object of type 'NoneType' has no len()"),
    ],
)
def test_non_string_user_agent_is_an_error(value: object, message: str) -> None:
    with pytest.raises(TypeError) as err:
        eventlogging_user_agent(value)
    assert err.value.args[0] == message
