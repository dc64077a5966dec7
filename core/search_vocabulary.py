"""The word index's distinct words, held in memory, for finding a search word with one typo.

A search word of FUZZY_LENGTH letters or more also matches the stored stems one edit
(a letter added, dropped or changed) away from its stem: rapidfuzz's Levenshtein
distance over the index's distinct stems, those of a length within one of it.

The stems are read once per database and again only after the word index changed:
SearchState's counter (one primary-key read) moves on with every write to the index, in
the writer's own transaction (core/models.py). A search that may need the stems reads the
counter at once after a write by this process (an import through the bot), else at most
once every RECHECK_SECONDS, so another process's import is seen within that time, and most
searches make no read for it (a statement less of about five). The counter is read before
the stems, so a write between the two reads is seen at the next check, never missed.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import models
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
# How long the counter read is trusted when this process has not written to the index.
RECHECK_SECONDS = 1.0


@dataclass
class _Vocabulary:
    version: int | None
    by_length: dict[int, list[str]]
    checked_at: float = 0.0          # time.monotonic() of the last counter read
    local_writes: int = 0            # models.local_word_writes as it was then
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fresh(self) -> bool:
        """Whether the counter need not be read again yet."""
        return self.local_writes == models.local_word_writes \
            and time.monotonic() - self.checked_at < RECHECK_SECONDS

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
    held = _held.get(engine)
    if held is None or not held.fresh():
        local_writes, checked_at = models.local_word_writes, time.monotonic()   # before the read
        connection = await session.connection()   # Core: the ORM's execute costs ~0.5 ms more
        version = (await connection.execute(_VERSION)).scalar_one_or_none()
        if held is None or held.version != version:
            by_length: dict[int, list[str]] = {}
            for (term,) in await connection.execute(_DISTINCT_TERMS):
                if not term.startswith(MARKER):
                    by_length.setdefault(len(term), []).append(term)
            held = _held[engine] = _Vocabulary(version, by_length)
        held.checked_at, held.local_writes = checked_at, local_writes
    return [held.near(term) for term in terms]
