"""Arrow-batched user-agent parsing for refine (no Spark): reference conventions, NULLs, dedup."""

from __future__ import annotations

import pyarrow as pa

from eljobs.refine import ua_batch

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def _row(*values: str) -> dict[str, str]:
    return dict(zip(ua_batch.UA_FIELDS, values, strict=True))


def test_parse_batch_maps_parser_answers_to_reference_conventions() -> None:
    uas = pa.array([CHROME, None, IPHONE, "", "-", GOOGLEBOT, CHROME])
    got = ua_batch.parse_batch(uas).to_pylist()
    assert got == [
        _row("Chrome", "118", "Other", "Windows", "10", "-"),
        None,
        _row("Mobile Safari", "16", "iPhone", "iOS", "16", "6"),
        # empty and "-" are parsed like the reference: unmatched families are Other,
        # missing versions "-"
        _row("Other", "-", "Other", "Other", "-", "-"),
        _row("Other", "-", "Other", "Other", "-", "-"),
        _row("Googlebot", "2", "Spider", "Other", "-", "-"),
        _row("Chrome", "118", "Other", "Windows", "10", "-"),
    ]


def test_user_agents_longer_than_400_chars_are_not_parsed() -> None:
    at_limit = CHROME + " " * (ua_batch.MAX_UA_LENGTH - len(CHROME))
    too_long = at_limit + " "
    got = ua_batch.parse_batch(pa.array([at_limit, too_long])).to_pylist()
    assert got[0] == _row("Chrome", "118", "Other", "Windows", "10", "-")
    assert got[1] == _row("-", "-", "-", "-", "-", "-")


def test_each_distinct_user_agent_is_parsed_once_per_batch() -> None:
    ua_batch.ua_parts.cache_clear()
    batch = pa.chunked_array([[IPHONE] * 500, [GOOGLEBOT] * 300 + [None] * 10])
    got = ua_batch.parse_batch(batch)
    info = ua_batch.ua_parts.cache_info()
    assert len(got) == 810
    assert got.null_count == 10
    assert info.misses == 2 and info.hits == 0
    ua_batch.parse_batch(pa.array([IPHONE]))
    assert ua_batch.ua_parts.cache_info().hits == 1


def test_spider_flag_follows_the_reference_pattern_once_per_distinct_agent() -> None:
    # The same cases as tests/test_columns.py::test_is_spider (the native rlike version).
    cases = {
        GOOGLEBOT: True,
        "curl/7.68.0": True,
        "CURL/7.68.0": True,
        "Mozilla/5.0 compatible; SomeSpider": True,
        "MediaWiki/1.41 (https://example.org)": True,
        "someone@example.org my-tool/1.0": True,
        "my-tool/1.0 (someone@example.org)": False,
        "-": True,
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0": False,
        IPHONE: False,
        "I use curl/7": False,
        "": False,
    }
    uas = list(cases)
    got = ua_batch.parse_batch(pa.array([*uas, None]), with_spider=True).to_pylist()
    assert [g["is_spider"] for g in got[:-1]] == list(cases.values())
    assert got[-1] is None
    assert set(got[0]) == {*ua_batch.UA_FIELDS, "is_spider"}
    assert ua_batch.struct_ddl(with_spider=True).endswith("is_spider boolean")
