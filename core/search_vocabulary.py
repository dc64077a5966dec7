"""The word index's distinct words, held in memory, for finding a search word with one typo.

A search word of FUZZY_LENGTH letters or more also matches the stored stems one edit
(a letter added, dropped or changed) away from its stem: rapidfuzz's Levenshtein
distance over the index's distinct stems, those of a length within one of it.

The stems are read once per database and again only after the word index changed:
each search that may need them reads SearchState's counter (one primary-key read),
which every write to the index moves on in its own transaction (core/models.py). The
counter is read before the stems, so a write between the two reads is seen at the
next search, never missed.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import SEARCH_STATE_ID, SearchState
from core.thesaurus import MARKER

# The distinct terms of program_terms, one index seek each (a loose index scan): a plain
# DISTINCT would read every row of the index (1.5 million on 100 000 programs).
_DISTINCT_TERMS = text("""
    WITH RECURSIVE found(term) AS (
        SELECT min(term) FROM program_terms
        UNION ALL
        SELECT (SELECT min(t.term) FROM program_terms t WHERE t.term > found.term)
        FROM found WHERE found.term IS NOT NULL)
    SELECT term FROM found WHERE term IS NOT NULL""")
_VERSION = select(SearchState.words).where(SearchState.id == SEARCH_STATE_ID)
# Typos asked about of one vocabulary kept; a search has at most 8 words.
_KEPT_ANSWERS = 4096


@dataclass
class _Vocabulary:
    version: int | None
    by_length: dict[int, list[str]]
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def near(self, term: str) -> tuple[str, ...]:
        """Stored stems one edit away from `term`, except those starting with it (the
        search's own range finds them)."""
        found = self.answers.get(term)
        if found is None:
            found = tuple(
                choice for length in (len(term) - 1, len(term), len(term) + 1)
                for choice, _distance, _index in process.extract(
                    term, self.by_length.get(length, ()), scorer=Levenshtein.distance,
                    score_cutoff=1, limit=None)
                if not choice.startswith(term))
            if len(self.answers) >= _KEPT_ANSWERS:
                self.answers.clear()
            self.answers[term] = found
        return found


# Per engine: tests and tools open several databases in one process.
_held: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def near_terms(session: AsyncSession, terms: list[str]) -> list[tuple[str, ...]]:
    """For each stem, the stored stems one typo away (see _Vocabulary.near)."""
    engine = session.bind
    connection = await session.connection()   # Core: the ORM's execute costs ~0.5 ms more
    version = (await connection.execute(_VERSION)).scalar_one_or_none()
    held = _held.get(engine)
    if held is None or held.version != version:
        by_length: dict[int, list[str]] = {}
        for (term,) in await connection.execute(_DISTINCT_TERMS):
            if not term.startswith(MARKER):
                by_length.setdefault(len(term), []).append(term)
        held = _held[engine] = _Vocabulary(version, by_length)
    return [held.near(term) for term in terms]
