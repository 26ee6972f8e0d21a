"""Escaping paths for Hadoop's glob syntax. No Spark."""

from __future__ import annotations

import fnmatch

import pytest

from eljobs.io.globs import GLOB_CHARS, escape_glob, escape_input_paths


@pytest.mark.parametrize(
    ("path", "escaped"),
    [
        ("/raw/eventlogging_Test/year=2024", "/raw/eventlogging_Test/year=2024"),
        ("/raw/a{b,c}/x", "/raw/a\\{b,c\\}/x"),
        ("/raw/Q?/S[x]/*", "/raw/Q\\?/S\\[x\\]/\\*"),
        ("/raw/back\\slash", "/raw/back\\\\slash"),
    ],
)
def test_escape_glob_escapes_each_special_character(path: str, escaped: str):
    assert escape_glob(path) == escaped
    # Every special character is preceded by an escaping backslash, nothing else changed.
    assert escaped.replace("\\\\", "").replace("\\", "") == path.replace("\\", "")


def test_escape_input_paths_protects_commas_and_the_glob_escapes():
    # Hadoop splits the list at unescaped commas and removes one level of backslashes.
    assert escape_input_paths("/raw/a{b,c}") == "/raw/a\\\\{b\\,c\\\\}"
    assert escape_input_paths("/raw/plain") == "/raw/plain"


def test_glob_characters_are_the_ones_hadoop_globs_give_a_meaning():
    assert set("?*[]{}\\") == GLOB_CHARS
    # The unescaped name would match a neighbour; Python's fnmatch agrees for ? and [].
    assert fnmatch.fnmatchcase("Qx", "Q?") and fnmatch.fnmatchcase("Sx", "S[x]")
