"""Measuring recorded send timestamps against a platform's rate limit."""
from __future__ import annotations


def max_in_window(stamps: list[float], window: float) -> int:
    """The most timestamps that fall inside any window of `window` seconds."""
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best
