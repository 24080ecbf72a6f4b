"""The character-class tables: Python's own answers for every code point, kept on disk and never trusted when
the file is damaged."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stack_v2 import unicode_classes as uc


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    uc._tables.cache_clear()
    uc.is_word.cache_clear()
    yield tmp_path
    uc._tables.cache_clear()
    uc.is_word.cache_clear()


def test_tables_are_pythons_answers_and_come_back_from_disk(fresh):
    alpha, alnum = uc._build()
    built_alpha, built_alnum = uc._tables()
    assert os.path.isfile(uc.cache_path()) and uc.cache_path().startswith(str(fresh))
    uc._tables.cache_clear()
    read_alpha, read_alnum = uc._tables()  # from the file this time
    assert np.array_equal(read_alpha, alpha) and np.array_equal(read_alnum, alnum)
    assert np.array_equal(built_alpha, alpha) and np.array_equal(built_alnum, alnum)
    for c in ("a", "é", "ß", "字", "٣", "²", "½", "_", " ", "\U0001d49c", "\ud800"):
        assert read_alpha[ord(c)] == c.isalpha() and read_alnum[ord(c)] == c.isalnum()
        assert uc.is_word()[ord(c)] == (c.isalnum() or c == "_")


def test_a_damaged_cache_file_is_rebuilt_not_trusted(fresh):
    uc._tables()
    path = uc.cache_path()
    data = bytearray(open(path, "rb").read())
    data[32 + ord("a") // 8] ^= 0xFF  # flips 'a' (and its neighbours) in the alpha bits
    open(path, "wb").write(bytes(data))
    uc._tables.cache_clear()
    assert uc.is_alpha()[ord("a")] and uc.is_alnum()[ord("a")]
    assert open(path, "rb").read() != bytes(data)  # rewritten
    open(path, "wb").write(b"short")
    uc._tables.cache_clear()
    assert uc.is_alpha()[ord("b")]


def test_an_unwritable_cache_still_gives_the_tables(fresh, monkeypatch):
    blocker = fresh / "not-a-dir"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert uc.is_alnum()[ord("7")] and not uc.is_alpha()[ord("7")]
    assert not os.path.exists(uc.cache_path())
