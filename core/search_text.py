"""Search text: Russian words reduced to stems, the same way on every database.

SQLite's lower() does not fold Cyrillic and PostgreSQL's depends on the
collation, so the database never folds anything: a program's words are
case-folded, ё→е, stemmed (Snowball, Russian) here and stored in
Program.search_text as " stem stem … " (a space before every stem). A query
word then matches the start of a stored word with `LIKE '% stem%'`. The markers of
the thesaurus groups of the title and provider (core/thesaurus.py) follow the stems.
"""
from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

# Letters and digits; underscores and punctuation separate words (and so can
# never reach a LIKE pattern, where `_` and `%` would be wildcards).
_WORD = re.compile(r"[^\W_]+")
_STEMMER = snowballstemmer.stemmer("russian")
# A query is a handful of words; more is a paste, not a search.
MAX_QUERY_TERMS = 8
# Longest stem kept in the word index (ProgramTerm.term); longer ones are cut,
# and a search for them is then checked against search_text as well.
TERM_LENGTH = 64


def words(text: str) -> list[str]:
    """Case-folded words with ё written as е."""
    return _WORD.findall(text.casefold().replace("ё", "е"))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def normalise(text: str) -> list[str]:
    return [stem(word) for word in words(text)]


def program_search_text(title: str, provider: str, description: str, address: str) -> str:
    """The stored form: every distinct stem once, then the markers of the thesaurus's
    groups of the title and provider, each preceded by a space."""
    from core.thesaurus import markers_of   # it stems with this module

    seen: dict[str, None] = {}
    for part in (title, provider, description, address):
        for term in normalise(part or ""):
            seen.setdefault(term, None)
    for marker in markers_of(title, provider):
        seen.setdefault(marker, None)
    return "".join(f" {term}" for term in seen) + " " if seen else ""


def query_terms(text: str) -> list[str]:
    """Distinct stems of the parent's search words, at most MAX_QUERY_TERMS."""
    seen: dict[str, None] = {}
    for term in normalise(text or ""):
        if term:
            seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


# A word this long or longer is found with one typo (core/catalog.py, fuzzy matches).
FUZZY_LENGTH = 5


def query_words(text: str) -> list[tuple[str, int]]:
    """query_terms() with each stem's longest typed word's length (typos: FUZZY_LENGTH)."""
    seen: dict[str, int] = {}
    for word in words(text or ""):
        term = stem(word)
        if term and (term in seen or len(seen) < MAX_QUERY_TERMS):
            seen[term] = max(seen.get(term, 0), len(word))
    return list(seen.items())


def like_pattern(term: str) -> str:
    """The LIKE pattern matching `term` at the start of a stored word."""
    return f"% {term}%"


def stored_terms(search_text: str) -> list[str]:
    """The word-index rows of a stored search text: distinct stems, cut to TERM_LENGTH."""
    return sorted({term[:TERM_LENGTH] for term in (search_text or "").split()})


def term_range(term: str) -> tuple[str, str | None]:
    """[low, high) of the stored stems that start with `term` (high None: no upper bound).

    Stems compare by code point on both databases (ProgramTerm.term), so the
    stems starting with "робот" are those from "робот" up to, not including,
    "робоу" (the last letter moved one on).
    """
    low = term[:TERM_LENGTH]
    last = ord(low[-1]) if low else 0
    if not low or last >= 0x10FFFF:
        return low, None
    following = last + 1 if not 0xD7FF <= last < 0xE000 else 0xE000  # no surrogates in UTF-8
    return low, low[:-1] + chr(following)
