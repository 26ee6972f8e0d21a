"""User-agent parsing shared by the backfill (EventLogging ``%u``) and refine's user-agent step.

* :func:`parse_ua` runs ua-parser 1.0.2 with the native ``ua-parser-rs`` backend (the
  ``ua_parser.regex`` resolver) over the ``ua-parser-builtins`` 202610 rule set, and caches the
  result per process: real traffic has a few thousand distinct agents, so almost every call is a
  dictionary hit.
* :func:`is_spider` is the WMF bot test of refinery's ``Webrequest`` (as used by the
  EventLogging processor): either a token that may appear anywhere (``bot``, ``spider``,
  ``WordPress``...), or a tool name / e-mail address at the very start of the string.
* :func:`eventlogging_user_agent` builds the object the EventLogging processor stores in the
  capsule's ``userAgent``.

The rule set matters: ua-parser versions disagree mostly on ``device_family``, so
the rule set is pinned (``ua-parser-builtins==202610``) and reported by :func:`rules_version`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from typing import Any, NamedTuple

MAX_USER_AGENT_LENGTH = 800
"""Longer user agents make the whole EventLogging event a ``processor`` error."""

_CACHE_SIZE = 20_000


class UserAgentTooLong(ValueError):
    """The user agent is longer than :data:`MAX_USER_AGENT_LENGTH` characters."""


class UAParts(NamedTuple):
    """The seven ua-parser fields the EventLogging capsule keeps (``None`` when not found)."""

    browser_family: str | None
    browser_major: str | None
    browser_minor: str | None
    device_family: str | None
    os_family: str | None
    os_major: str | None
    os_minor: str | None


# Tokens that mark a bot anywhere in the agent, and tools / contacts that mark one only when the
# agent starts with them (refinery's Webrequest spider pattern is matched from the start of the
# string, and only its first alternative is preceded by ".*").
_BOT_ANYWHERE = [
    "bot",
    "spider",
    "WordPress",
    "AppEngine",
    "AppleDictionaryService",
    "Python-urllib",
    "python-requests",
    "Google-HTTP-Java-Client",
    "[Ff]acebook",
    "[Yy]ahoo",
    "RockPeaks",
    "http",
]
_BOT_AT_START = [
    "goo wikipedia",
    "MediaWikiCrawler-Google",
    "wikiwix-bot",
    "Java",
    "curl",
    "PHP",
    "Faraday",
    "HTTPC",
    "Ruby",
    r"\.NET",
    "Python",
    "Apache",
    "Scrapy",
    "PycURL",
    "libwww",
    "Zend",
    "wget",
    "nodemw",
    "WinHttpRaw",
    "Twisted",
    r"com\.eusoft",
    "Lagotto",
    "Peggo",
    "Recuweb",
    "check_http",
    "Magnus",
    "MLD",
    "Jakarta",
    "find-link",
    r"J\. River",
    "projectplan9",
    "ADmantX",
    "httpunit",
    "LWP",
    "iNaturalist",
    "WikiDemo",
    "FSResearchIt",
    "livedoor",
    "Microsoft Monitoring",
    "MediaWiki",
    "User:",
    "User_talk:",
    "github",
    "tools.wmflabs.org",  # the dots are unescaped in the original too: any character matches
    "Blackboard Safeassign",
    "Damn Small XSS",
    r"\S+@\S+\.[a-zA-Z]{2,3}",  # an e-mail address
]
# "." does not cross a newline and "$" also matches before a final newline, as in the original.
_BOT_RE = re.compile(
    "(?:.*(?:{anywhere}).*|(?:{start}).*)$".format(
        anywhere="|".join(_BOT_ANYWHERE), start="|".join(_BOT_AT_START)
    )
)


def is_spider(ua: str) -> bool:
    """True when ``ua`` (already stripped of surrounding quotes) matches the WMF bot pattern.

    The pattern is anchored at the start: tool names such as ``curl`` or ``Java`` count only
    as the first thing in the string, generic words such as ``bot`` count anywhere.
    """
    return _BOT_RE.match(ua) is not None


@lru_cache(maxsize=1)
def _resolver() -> Callable[[str], Any]:
    # Imported lazily (about 0.1 s): a process pays for ua-parser and its rule compilation
    # once, on the first user agent it parses, and never when it parses none.
    from ua_parser import Domain, load_lazy_builtins
    from ua_parser.regex import Resolver

    resolve = Resolver(load_lazy_builtins())
    return lambda ua: resolve(ua, Domain.ALL)


def rules_version() -> str:
    """The pinned ua-parser rule set, e.g. ``ua-parser 1.0.2, ua-parser-builtins 202610``."""
    return "ua-parser {}, ua-parser-rs {}, ua-parser-builtins {}".format(
        metadata.version("ua-parser"),
        metadata.version("ua-parser-rs"),
        metadata.version("ua-parser-builtins"),
    )


@lru_cache(maxsize=_CACHE_SIZE)
def parse_ua(ua: str) -> UAParts:
    """Parse a user-agent string with ua-parser (native backend, pinned rules), cached.

    Families default to ``"Other"`` when no rule matches, versions to ``None``, as in the
    legacy ua-parser API the EventLogging processor used.
    """
    res = _resolver()(ua)
    agent, os_, device = res.user_agent, res.os, res.device
    return UAParts(
        browser_family=agent.family if agent else "Other",
        browser_major=agent.major if agent else None,
        browser_minor=agent.minor if agent else None,
        device_family=device.family if device else "Other",
        os_family=os_.family if os_ else "Other",
        os_major=os_.major if os_ else None,
        os_minor=os_.minor if os_ else None,
    )


def _eventlogging_user_agent(text: str) -> dict[str, Any]:
    if len(text) > MAX_USER_AGENT_LENGTH:
        raise UserAgentTooLong(
            f"User Agent string length ({len(text)}) longer than the allowed "
            f"{MAX_USER_AGENT_LENGTH} chars"
        )
    parts = parse_ua(text)
    obj: dict[str, Any] = parts._asdict()
    obj["wmf_app_version"] = "-"
    family = parts.device_family
    if family == "Spider":
        obj["is_bot"] = True
    elif family == "Other":
        obj["is_bot"] = is_spider(text.strip('"'))
    else:
        obj["is_bot"] = False
    obj["is_mediawiki"] = "mediawiki" in text.lower()
    if "WikipediaApp/" in text:
        # The version is what follows the first "/" of the first blank-separated token; when
        # that token has no "/" this is an IndexError, as in the reference processor.
        obj["wmf_app_version"] = text.split()[0].split("/")[1]
    return obj


@lru_cache(maxsize=_CACHE_SIZE)
def shared_eventlogging_user_agent(text: str) -> dict[str, Any]:
    """Like :func:`eventlogging_user_agent` for a ``str`` but returns one cached dict per agent.

    For the processor's hot path: the caller must not modify the result.
    """
    return _eventlogging_user_agent(text)


def eventlogging_user_agent(text: Any) -> dict[str, Any]:
    """The EventLogging capsule's ``userAgent`` object for a raw ``%u`` field.

    ``text`` is the field as it appears in the line, surrounding double quotes included. The
    result has the seven ua-parser keys plus ``wmf_app_version``, ``is_bot`` and
    ``is_mediawiki``; a fresh dict is returned on every call.

    :raises UserAgentTooLong: more than 800 characters.
    :raises IndexError: ``WikipediaApp/`` appears but the first token has no ``/``.
    :raises TypeError: ``text`` is not a string (e.g. a client-sent object or number), with
        the message Python gave the reference processor.
    """
    if not isinstance(text, str):
        size = len(text)  # numbers, booleans and null fail here: "object of type ... has no len()"
        if size > MAX_USER_AGENT_LENGTH:
            raise UserAgentTooLong(
                f"User Agent string length ({size}) longer than the allowed "
                f"{MAX_USER_AGENT_LENGTH} chars"
            )
        raise TypeError(f"unhashable type: {type(text).__name__!r}")
    if len(text) > MAX_USER_AGENT_LENGTH:
        # Not cached: long agents are rare and would only evict useful entries.
        return _eventlogging_user_agent(text)
    return dict(shared_eventlogging_user_agent(text))
