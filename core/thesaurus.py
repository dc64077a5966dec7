"""The thesaurus of /find (its words: core/thesaurus_data.py), stemmed as the search stems.

At index time a program whose title or provider has a word (or a phrase, its words in
a row) of a group gets the group's marker, a stored term "~<first entry>" that no
search word can reach by itself (search words are letters and digits). At query time
a search word that is an entry of a group also matches that marker: the group's other
programs are found as synonyms, after those with the word itself (core/catalog.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from core.search_text import normalise
from core.thesaurus_data import THESAURUS

MARKER = "~"


@dataclass(frozen=True)
class Group:
    marker: str
    entries: tuple[tuple[str, ...], ...]   # stems of the entries a program's text is read for
    asked: tuple[tuple[str, ...], ...]     # … and of every entry, those after `|` too: a search's


def parse(text: str) -> list[Group]:
    """The groups of a thesaurus text (THESAURUS's format); ValueError names a bad line."""
    groups: list[Group] = []
    markers: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        indexed, _, query_only = line.partition("|")
        entries = [tuple(normalise(entry)) for entry in indexed.split(",")]
        extra = [tuple(normalise(entry)) for entry in query_only.split(",")]
        entries = [entry for entry in entries if entry]
        extra = [entry for entry in extra if entry]
        if len(entries) + len(extra) < 2 or not entries:
            raise ValueError(f"thesaurus line {number}: a group needs two entries or more, "
                             "the first before '|'")
        marker = MARKER + "-".join(entries[0])
        if marker in markers:
            raise ValueError(f"thesaurus line {number}: another group starts with the same word")
        markers.add(marker)
        groups.append(Group(marker=marker, entries=tuple(dict.fromkeys(entries)),
                            asked=tuple(dict.fromkeys(entries + extra))))
    return groups


GROUPS = parse(THESAURUS)


def _by_first_stem(kind: str) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Each entry (of `kind`: "entries" or "asked") with its group's marker, by its first stem."""
    found: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for group in GROUPS:
        for entry in getattr(group, kind):
            found.setdefault(entry[0], []).append((entry, group.marker))
    return found


_INDEXED = _by_first_stem("entries")
_ASKED = _by_first_stem("asked")


def _found(stems: list[str], entries: dict[str, list[tuple[tuple[str, ...], str]]]):  # type: ignore[no-untyped-def]
    """(start, length, marker) of each entry standing in `stems` (a phrase: its stems in a row)."""
    for start, stem in enumerate(stems):
        for entry, marker in entries.get(stem, ()):
            if tuple(stems[start:start + len(entry)]) == entry:
                yield start, len(entry), marker


def markers_of(*texts: str) -> list[str]:
    """The markers of the groups with an entry in one of these texts (a program's title, provider)."""
    found: dict[str, None] = {}
    for text in texts:
        for _start, _length, marker in _found(normalise(text or ""), _INDEXED):
            found.setdefault(marker, None)
    return list(found)


def synonym_markers(stems: list[str]) -> list[list[str]]:
    """For each search stem, the markers of the groups it is an entry of (alone, or as a word
    of a phrase that stands whole in the search)."""
    result: list[dict[str, None]] = [{} for _ in stems]
    for start, length, marker in _found(stems, _ASKED):
        for i in range(start, start + length):
            result[i].setdefault(marker, None)
    return [list(markers) for markers in result]


_SINGLE = sorted({entry[0] for group in GROUPS for entry in group.asked if len(entry) == 1})
_GROUPS_OF = {stem: [group.marker for group in GROUPS if (stem,) in group.asked] for stem in _SINGLE}


@lru_cache(maxsize=4096)
def near_markers(stem: str) -> tuple[str, ...]:
    """The markers of the groups with a one-word entry one typo away from `stem` (not equal)."""
    found: dict[str, None] = {}
    for entry, _distance, _index in process.extract(stem, _SINGLE, scorer=Levenshtein.distance,
                                                    score_cutoff=1, limit=None):
        if entry != stem:
            for marker in _GROUPS_OF[entry]:
                found.setdefault(marker, None)
    return tuple(found)
