"""Places and people typed into the search box ("beach in Lisbon", "Anna at the beach") become filters, as dates do.

An image model cannot tell Lisbon from Porto, and embedding "Lisbon" only adds noise; where a photo was
taken is known from its GPS (store/describe.py). So a place's name is split off the words and becomes a
filter: the photos taken there, and those whose own words (folder, caption, keywords) name it.

Only the library's own places count, and only when the words clearly name one: typed with a capital
("Lisbon"), after a preposition ("in lisbon", "near Sintra"), or as the whole query ("lisbon"). A name
that is no place of this library stays a word (the files' words and the pictures still search it), and
so does a lower-case word mid-sentence ("a nice view" is no filter, even with photos from Nice).
Quoted words and ``+``/``-`` terms belong to the query syntax and are never places. People named by the user
("Anna") are read the same way (``split_names`` with their own little words: "with Anna", "photos of Anna").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from framefind.search.dates import TOKEN

PREPOSITIONS = frozenset({"in", "at", "near", "around", "from"})
WITH = frozenset({"with", "of", "and", "by"})  # before a person's name
LONGEST = 4  # words in a place name ("Rio de Janeiro", "Saint-Martin-de-Ré" is one token)


@dataclass(frozen=True)
class NamesRead:
    names: tuple[str, ...]  # lower case, every one must hold ("lisbon", "portugal"; "anna")
    said: str = ""  # the words that made it, as typed ("in Lisbon")


def _word(token: str) -> str:
    """A token as a place name's word; query syntax (quotes, +/- terms, weights) maps to ""."""
    if '"' in token or (":" in token and re.search(r":-?\d", token)) or token[:1] in "+-":
        return ""
    return token.strip(",.;!?()")


def split_places(text: str, is_place: Callable[[str], bool]) -> tuple[str, NamesRead | None]:
    """The words without the places they name, and the filter those make (None: no place named).
    ``is_place``: whether a lower-case name is one of the library's places."""
    return split_names(text, is_place, PREPOSITIONS)


def split_names(text: str, is_name: Callable[[str], bool], lead: frozenset[str]) -> tuple[str, NamesRead | None]:
    """The words without the names they hold (``is_name``: of a lower-case name), and what those make; a word of
    ``lead`` just before a name goes with it ("in Lisbon", "with Anna")."""
    tokens = TOKEN.findall(text)
    words = [_word(token) for token in tokens]
    alone = sum(bool(w) for w in words)
    taken: set[int] = set()
    names: list[str] = []
    i = 0
    while i < len(words):
        found = _name_at(words, i, is_name, alone, lead)
        if found is None:
            i += 1
            continue
        n, name = found
        before = i > 0 and words[i - 1].lower() in lead and i - 1 not in taken
        taken |= set(range(i - before, i + n))
        names.append(name)
        i += n
    if not names:
        return text, None
    rest = " ".join(token for k, token in enumerate(tokens) if k not in taken)
    said = " ".join(tokens[k] for k in sorted(taken))
    return rest, NamesRead(tuple(dict.fromkeys(names)), said)


def candidates(text: str) -> list[str]:
    """Every run of up to ``LONGEST`` words of ``text`` that could be a place name, lower case (to look up at once)."""
    words = [_word(token) for token in TOKEN.findall(text)]
    found = {" ".join(words[i: i + n]).lower() for i in range(len(words)) for n in range(1, LONGEST + 1)
             if i + n <= len(words) and all(words[i: i + n])}
    return sorted(found)


def _name_at(words: list[str], i: int, is_name: Callable[[str], bool], alone: int,
             lead: frozenset[str]) -> tuple[int, str] | None:
    """The longest name starting at ``words[i]`` that the words clearly mean as one."""
    for n in range(min(LONGEST, len(words) - i), 0, -1):
        span = words[i: i + n]
        if not all(span):
            continue
        name = " ".join(span).lower()
        if not is_name(name):
            continue
        capital = any(w[:1].isupper() for w in span)
        after = i > 0 and words[i - 1].lower() in lead
        if capital or after or n == alone:
            return n, name
    return None
