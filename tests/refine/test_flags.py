"""Flag framing (Java writeUTF) and the re-refine decision table. No Spark."""

from __future__ import annotations

import pytest

from eljobs.refine.flags import (
    FlagFormatError,
    FlagState,
    decode_flag,
    encode_flag,
    format_instant,
    parse_instant,
    read_utf,
    should_refine,
    write_utf,
)

MTIME = 1616440112345  # 2021-03-22T19:08:32.345Z


def test_flag_bytes_are_java_writeutf_of_iso_instant_with_millis():
    data = encode_flag(MTIME)
    text = b"2021-03-22T19:08:32.345Z"
    assert data == len(text).to_bytes(2, "big") + text
    assert decode_flag(data) == MTIME


def test_whole_second_keeps_three_digit_millis():
    assert format_instant(1616440112000) == "2021-03-22T19:08:32.000Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-22T19:08:32.345Z", MTIME),
        ("2021-03-22T20:08:32.345+01:00", MTIME),
        ("2021-03-22T19:08:32.3Z", MTIME - 45),
        ("2021-03-22T19:08:32Z", MTIME - 345),
    ],
)
def test_parse_instant_compares_instants_not_text(text: str, expected: int):
    assert parse_instant(text) == expected


def test_modified_utf8_nul_and_supplementary_characters():
    # Java writes NUL as C0 80 and an emoji as two 3-byte surrogates (6 bytes).
    assert write_utf("a\x00") == b"\x00\x03a\xc0\x80"
    framed = write_utf("\U0001f600")
    assert framed[:2] == b"\x00\x06" and framed[2:] == bytes.fromhex("eda0bdedb880")
    assert read_utf(framed) == "\U0001f600"
    assert read_utf(write_utf("é")) == "é"


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x18abc", b"\x00\x03abc", None])
def test_empty_truncated_or_garbled_flag_reads_as_unknown(data: bytes | None):
    assert decode_flag(data) is None


def test_read_utf_names_the_problem():
    with pytest.raises(FlagFormatError, match="announces 24 bytes but holds 3"):
        read_utf(b"\x00\x18abc")


NO_DIR = FlagState(partition_exists=False)
DONE_SAME = FlagState(partition_exists=True, done=True, done_mtime=MTIME)
DONE_OTHER = FlagState(partition_exists=True, done=True, done_mtime=MTIME - 1)
DONE_UNKNOWN = FlagState(partition_exists=True, done=True, done_mtime=None)
FAILED_SAME = FlagState(partition_exists=True, failed=True, failed_mtime=MTIME)
FAILED_OTHER = FlagState(partition_exists=True, failed=True, failed_mtime=MTIME + 1)
BOTH_DONE_SAME = FlagState(
    partition_exists=True, done=True, done_mtime=MTIME, failed=True, failed_mtime=MTIME - 1
)
NO_FLAGS = FlagState(partition_exists=True)


@pytest.mark.parametrize(
    ("state", "ignore_failure", "ignore_done", "expected"),
    [
        (NO_DIR, False, False, True),
        (DONE_SAME, False, False, False),
        (DONE_SAME, False, True, True),
        (DONE_SAME, True, False, False),
        (DONE_OTHER, False, False, True),
        (DONE_UNKNOWN, False, False, True),
        (FAILED_SAME, False, False, False),
        (FAILED_SAME, True, False, True),
        (FAILED_SAME, False, True, False),
        (FAILED_OTHER, False, False, True),
        # The done flag is checked before the failure flag.
        (BOTH_DONE_SAME, True, False, False),
        (NO_FLAGS, False, False, True),
    ],
)
def test_decision_table(state: FlagState, ignore_failure: bool, ignore_done: bool, expected: bool):
    assert (
        should_refine(
            state, MTIME, ignore_failure_flag=ignore_failure, ignore_done_flag=ignore_done
        )
        is expected
    )


def test_unknown_input_mtime_never_matches():
    assert should_refine(DONE_SAME, None) is True
