"""eljobs.eventlogging.logformat: format strings, QSON, time casters, merge rules, uuid."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eljobs.eventlogging.logformat import (
    CAPSULE_NOT_MATCHED,
    NOT_AN_OBJECT,
    LogFormatError,
    LogParser,
    _decode_qson_nospace,
    capsule_uuid,
    decode_qson,
    iso8601_from_timestamp,
)

PROD = "%q %{recvFrom}s %{seqId}d %D %{ip}i %u"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:60.0) Gecko/20100101 Firefox/60.0"


def q(obj: object) -> str:
    """The MediaWiki client's encoding: ? + encodeURIComponent(JSON) + ;"""
    return "?" + quote(json.dumps(obj, separators=(",", ":")), safe="-_.!~*'()") + ";"


CAPSULE = {"event": {"a": 1}, "revision": 13, "schema": "Generic", "webHost": "h", "wiki": "w"}


def line(capsule: object = CAPSULE, *, ua: str = UA, ip: str = "1.2.3.4") -> str:
    return f'{q(capsule)}\tcp3030.esams.wmnet\t4724275\t2015-09-21T21:55:27\t{ip}\t"{ua}"'


def parse_error(parser: LogParser, text: str) -> str:
    with pytest.raises(Exception) as err:
        parser.parse(text)
    return str(err.value.args[0])


# ------------------------------------------------------------------ specifiers


def test_production_format_fields() -> None:
    c = LogParser(PROD).parse(line())
    assert c["event"] == {"a": 1}
    assert c["recvFrom"] == "cp3030.esams.wmnet"
    assert c["seqId"] == 4724275
    assert c["dt"] == "2015-09-21T21:55:27Z"
    assert c["ip"] == "1.2.3.4"
    assert c["userAgent"]["browser_family"] == "Firefox"
    assert c["userAgent"]["wmf_app_version"] == "-"
    assert len(c["uuid"]) == 32
    assert set(c) == {*CAPSULE, "recvFrom", "seqId", "dt", "ip", "userAgent", "uuid"}


def test_j_s_d_i_t_o_specifiers() -> None:
    p = LogParser("%j %{host}s %{n}d %{free}i\t%t %o end")
    c = p.parse('{"k":"v"} cp1 42 a b  c\t2013-01-19T23:16:38 ignored end')
    assert c["k"] == "v"
    assert c["host"] == "cp1"
    assert c["n"] == 42 and type(c["n"]) is int
    assert c["free"] == "a b  c"  # %i runs to the next TAB, spaces included
    assert c["timestamp"] == calendar.timegm((2013, 1, 19, 23, 16, 38, 0, 0, 0))
    assert "omit" not in c  # %o is matched and dropped
    assert p.pattern.startswith(r"(?P<capsule>\S+)\s+(?P<host>\S+)\s+(?P<n>\d+)")


def test_pattern_of_production_format() -> None:
    assert LogParser(PROD).pattern == (
        r"(?P<capsule>\?\S+)\s+(?P<recvFrom>\S+)\s+(?P<seqId>\d+)\s+"
        r"(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s+(?P<ip>[^\t]+)\s+(?P<userAgent>[^\t]+)"
    )


def test_literal_space_matches_any_whitespace_run() -> None:
    p = LogParser("%q %{a}s")
    assert p.parse(q({}) + " \t \n x")["a"] == "x"


def test_other_text_is_not_escaped_and_percent_percent_is_kept() -> None:
    p = LogParser("%q .%%d %{a}s")
    assert ".%%d" in p.pattern  # %% not collapsed, %%d not a specifier
    assert p.parse(q({}) + " X%%d v")["a"] == "v"  # "." is a regex wildcard
    assert parse_error(p, q({}) + " X%d v") == p.pattern  # one % does not match the literal %%


def test_unsupported_letters_stay_literal() -> None:
    p = LogParser("%q %h %{x}x")
    assert p.pattern.endswith(r"\s+%h\s+%{x}x")
    assert parse_error(p, q({}) + " host x") == p.pattern
    assert "h" not in p.parse(q({}) + " %h %{x}x")


@pytest.mark.parametrize("fmt", ["%o %o", "%q %j", "%q %{a}s %{a}d"])
def test_duplicate_group_is_a_format_error(fmt: str) -> None:
    with pytest.raises(LogFormatError, match="each field name may be used once"):
        LogParser(fmt)


@pytest.mark.parametrize("fmt", ["%q %s", "%q %d", "%q %i"])
def test_name_required(fmt: str) -> None:
    with pytest.raises(LogFormatError, match="need a"):
        LogParser(fmt)


@pytest.mark.parametrize("fmt", ["%{c}q", "%q %{x}D", "%q %{x}u", "%q %{x}o"])
def test_fixed_names_take_no_name(fmt: str) -> None:
    with pytest.raises(LogFormatError, match="takes no"):
        LogParser(fmt)


def test_match_is_anchored_at_start_only() -> None:
    p = LogParser("%q %{a}s")
    assert p.parse(q({}) + " v trailing junk is ignored")["a"] == "v"
    assert parse_error(p, " " + q({}) + " v") == p.pattern


def test_format_without_capsule() -> None:
    p = LogParser("%{a}s %{b}s")
    assert parse_error(p, "x y") == CAPSULE_NOT_MATCHED


def test_empty_line_does_not_match() -> None:
    p = LogParser(PROD)
    assert parse_error(p, "") == p.pattern


# ------------------------------------------------------------------ QSON


def test_qson_plus_and_percent_2b() -> None:
    assert decode_qson("?%7B%22a%22:%22x+y%2Bz%22%7D;") == {"a": "x y+z"}


def test_qson_strips_question_marks_and_semicolons_at_both_ends() -> None:
    assert decode_qson("?;?%7B%22a%22:1%7D;?;;") == {"a": 1}
    assert decode_qson(";%7B%22a%22:%22?;%22%7D?") == {"a": "?;"}  # inner ones kept


def test_qson_lenient_percent() -> None:
    assert decode_qson("?%7B%22a%22:%22%ZZ%25%2%22%7D;") == {"a": "%ZZ%%2"}
    assert decode_qson("?%7b%22a%22:%22%c3%a9%22%7d;") == {"a": "é"}  # lower-case hex


def test_qson_invalid_utf8_message_is_utf8() -> None:
    with pytest.raises(UnicodeDecodeError) as err:
        decode_qson("?%7B%22a%22:%22%C3%28%22%7D;")
    assert err.value.args[0] == "utf-8"
    p = LogParser("%q")
    assert parse_error(p, "?%7B%22a%22:%22%C3%28%22%7D;") == "utf-8"


def test_qson_json_errors_and_non_objects() -> None:
    p = LogParser("%q")
    assert parse_error(p, "?%7B%22a%22") == "Expecting ':' delimiter: line 1 column 5 (char 4)"
    assert parse_error(p, "?abc") == "Expecting value: line 1 column 1 (char 0)"
    for text in ("?%5B1%5D", "?%22s%22", "?12", "?null"):
        assert parse_error(p, text) == NOT_AN_OBJECT


def test_qson_python_json_quirks() -> None:
    assert decode_qson("?%7B%22a%22:NaN,%22a%22:2%7D") == {"a": 2}  # duplicate keys: last wins


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('%?;+=_ab7BcFf2C3E9Z\u00e9\u4e2d\x00:"{}')), max_size=40)
)
def test_fast_qson_equals_urllib(text: str) -> None:
    """The C (quoted-printable) decoding path equals the reference's urllib semantics."""

    def reference(t: str) -> object:
        return json.loads(unquote(t.strip("?;").replace("+", " "), errors="strict"))

    def outcome(f: object, t: str) -> tuple[str, object]:
        try:
            return ("ok", f(t))  # type: ignore[operator]
        except Exception as exc:
            return (type(exc).__name__, exc.args[0])

    assert outcome(_decode_qson_nospace, text) == outcome(reference, text)
    assert outcome(decode_qson, text) == outcome(reference, text)


def test_qson_bom_message_as_json_loads() -> None:
    p = LogParser("%q")
    assert parse_error(p, "?%EF%BB%BF%7B%7D") == (
        "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"
    )


# ------------------------------------------------------------------ time


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    )
)
def test_fast_line_dt_equals_dateutil(parts: tuple[int, ...]) -> None:
    """The fast path for the line's own date-time agrees with dateutil, errors included."""
    import dateutil.parser

    from eljobs.eventlogging import logformat

    text = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parts)
    logformat._ISO_CACHE.clear()

    def outcome(f: object) -> tuple[str, object]:
        try:
            return ("ok", f())  # type: ignore[operator]
        except Exception as exc:
            return (type(exc).__name__, exc.args[0])

    def reference() -> str:
        moment = dateutil.parser.parse(text)
        return moment.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")

    assert outcome(lambda: iso8601_from_timestamp(text)) == outcome(reference)


def test_line_dt_gets_z() -> None:
    assert iso8601_from_timestamp("2013-01-19T23:16:38") == "2013-01-19T23:16:38Z"


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("2019-04-01 19:00", "2019-04-01T19:00:00Z"),
        ("2019-04-01T19:00:00.250Z", "2019-04-01T19:00:00.250000Z"),
        ("2019-04-01T19:00:00+02:00", "2019-04-01T19:00:00+02:00"),  # kept, not converted
        ("2013-01-19T23:16:38", "2013-01-19T23:16:38Z"),
    ],
)
def test_client_dt_is_recast(client: str, expected: str) -> None:
    c = LogParser(PROD).parse(line({**CAPSULE, "dt": client}))
    assert c["dt"] == expected


def test_client_numeric_dt_is_local_unix_time_labelled_utc() -> None:
    c = LogParser(PROD).parse(line({**CAPSULE, "dt": 1500000000}))
    assert c["dt"] == dt.datetime.fromtimestamp(1500000000).isoformat() + "Z"
    # too large for seconds: milliseconds
    c = LogParser(PROD).parse(line({**CAPSULE, "dt": 1358791834912}))
    assert c["dt"] == dt.datetime.fromtimestamp(1358791834.912).isoformat() + "Z"


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ("not a date", "Unknown string format: %s"),  # dateutil's unformatted first argument
        ("2013-13-01T00:00:00", "month must be in 1..12: %s"),
        ({"a": 1}, "Could not parse datetime from timestamp {'a': 1}. <class 'dict'> is not"),
    ],
)
def test_bad_client_dt_is_processor_error(client: object, message: str) -> None:
    assert parse_error(LogParser(PROD), line({**CAPSULE, "dt": client})).startswith(message)


def test_line_dt_out_of_range_is_an_error() -> None:
    bad = line().replace("2015-09-21T21:55:27", "2015-13-21T21:55:27")
    assert parse_error(LogParser(PROD), bad) == "month must be in 1..12: %s"


# ------------------------------------------------------------------ merge precedence


def test_client_fields_win_and_are_cast() -> None:
    client = {
        **CAPSULE,
        "recvFrom": "client-host",
        "seqId": "7",
        "ip": "9.9.9.9",
        "userAgent": "curl/7.1",
    }
    c = LogParser(PROD).parse(line(client))
    assert c["recvFrom"] == "client-host"
    assert c["seqId"] == 7
    assert c["ip"] == "9.9.9.9"
    assert c["userAgent"]["browser_family"] == "curl"  # a client string is parsed too
    assert c["userAgent"]["is_bot"] is True
    # the overrides feed the uuid
    assert c["uuid"] == capsule_uuid(
        {"recvFrom": "client-host", "seqId": 7, "dt": "2015-09-21T21:55:27Z"}
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seqId", "abc", "invalid literal for int() with base 10: 'abc'"),
        ("seqId", None, "int() argument must be a string"),
        ("userAgent", {"browser": "x"}, "unhashable type: 'dict'"),
        ("userAgent", 5, "object of type 'int' has no len()"),
    ],
)
def test_client_field_caster_failure(field: str, value: object, message: str) -> None:
    assert parse_error(LogParser(PROD), line({**CAPSULE, field: value})).startswith(message)


def test_client_string_fields_are_stringified() -> None:
    c = LogParser(PROD).parse(line({**CAPSULE, "recvFrom": 5, "ip": [1]}))
    assert c["recvFrom"] == "5" and c["ip"] == "[1]"


def test_omit_is_never_added_even_if_client_sent_it() -> None:
    p = LogParser("%q %{recvFrom}s %o")
    c = p.parse(q({**CAPSULE, "omit": "client"}) + " host dropped")
    assert c["omit"] == "client"  # a client field of that name is left as is
    assert "omit" not in p.parse(q(CAPSULE) + " host dropped")


def test_fields_not_in_format_are_left_alone() -> None:
    c = LogParser("%q %{recvFrom}s").parse(q({**CAPSULE, "seqId": "7", "dt": 5}) + " h")
    assert c["seqId"] == "7" and c["dt"] == 5


# ------------------------------------------------------------------ uuid


def test_uuid_vectors() -> None:
    assert (
        capsule_uuid(
            {"recvFrom": "srv0.example.org", "seqId": 132073, "dt": "2013-01-19T23:16:38Z"}
        )
        == "749684341abf513186c71f74c6a09502"
    )
    assert (
        capsule_uuid({"recvFrom": "fenari", "seqId": 12345, "dt": "2013-01-21T18:10:34.912000"})
        == "93e0f58d0c605e90a3c4861b1f00c407"
    )


def test_uuid_vector_through_a_line() -> None:
    p = LogParser("%q %{recvFrom}s %{seqId}d %D")
    c = p.parse(q(CAPSULE) + " srv0.example.org 132073 2013-01-19T23:16:38")
    assert c["uuid"] == "749684341abf513186c71f74c6a09502"


def test_uuid_without_dt_uses_timestamp_or_clock() -> None:
    from_ts = capsule_uuid({"recvFrom": "a", "seqId": 1, "timestamp": 0}, clock=lambda: 99.0)
    expected = iso8601_from_timestamp(0)
    assert from_ts == capsule_uuid({"recvFrom": "a", "seqId": 1, "dt": expected})
    from_clock = capsule_uuid({"recvFrom": "a", "seqId": 1}, clock=lambda: 99.0)
    assert from_clock == capsule_uuid(
        {"recvFrom": "a", "seqId": 1, "dt": iso8601_from_timestamp(99.0)}
    )
    assert capsule_uuid({}, clock=lambda: 1.0) == capsule_uuid(
        {"recvFrom": None, "seqId": None, "dt": iso8601_from_timestamp(1.0)}
    )


def test_bad_client_timestamp_fails_even_with_dt() -> None:
    # The reference evaluates the timestamp fallback eagerly.
    p = LogParser(PROD)
    assert parse_error(p, line({**CAPSULE, "timestamp": "soon"})) == "Unknown string format: %s"
