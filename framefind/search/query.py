"""The typed query passed down the search path: weighted words, image and video terms, and filters.

A term with a negative weight pushes results away from it: its vector is subtracted (rclip's +/-
queries; CLIP-like models have no notion of "not X", so "not X" must not be embedded as text).
Filters become an allowed-id set inside the vector search, so a selective filter still returns k hits.
Typed words are parsed into terms (``parse_words``): ``beach +sunset -people``, ``sunset:2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from framefind.errors import FrameFindError
from framefind.search.dates import TOKEN, DateFilter, split_dates
from framefind.store.filtering import Filters
from framefind.store.texts import METADATA, ONSCREEN, SPEECH

__all__ = ["DateFilter", "Filters", "Query", "Term", "date_range", "feedback_key", "parse_weights", "parse_words"]

TermKind = Literal["words", "image", "video", "item"]  # item: a library result by its stable key
KINDS = ("image", "video")
VISUAL = "visual"
# what may match: the picture, what is said, what is written on screen, what the file says about itself, and the
# face of the person an example picture shows (users name them visual, speech, text, metadata, face)
TEXT_SIGNALS = (SPEECH, ONSCREEN, METADATA)  # the signals found in stored texts
FACE = "face"  # who is in an example picture (search/face_match.py): found among the library's faces
SIGNALS = (VISUAL, *TEXT_SIGNALS, FACE)


@dataclass(frozen=True)
class Term:
    kind: TermKind
    value: str  # the words, the path of an example image or video, or a result key ("more like this")
    weight: float = 1.0  # < 0: results should be unlike this

    def __post_init__(self) -> None:
        if self.kind == "text":  # its name up to 0.6.0: Term("text", ...) in callers' code keeps working
            object.__setattr__(self, "kind", "words")


_WEIGHT = re.compile(r"^(?P<words>.*?):(?P<weight>-?\d+(?:\.\d+)?)$")


def parse_words(text: str) -> tuple[Term, ...]:
    """``beach +sunset -people``, ``sunset:2``, ``"red car" -"parking lot":0.5`` -> weighted word terms.

    Plain words form one phrase (weight 1); ``+words`` add a term, ``-words`` subtract one (CLIP-like
    models have no "not": the vector is pushed away instead, as rclip does); ``words:W`` weighs a term.
    Quotes group words into one term; a hyphen inside a word (t-shirt) is just a hyphen.
    """
    if text.count('"') % 2:
        raise FrameFindError(f"query {text!r}: a double quote is not closed")
    tokens = TOKEN.findall(text)  # not shlex: an apostrophe (a dog's toy) is no quote here
    plain: list[str] = []
    terms: list[Term] = []
    for token in tokens:
        sign = {"+": 1.0, "-": -1.0}.get(token[:1], 0.0)
        body = token[1:] if sign else token
        match = _WEIGHT.match(body)
        match = match if match and re.search(r"[^\W\d_]", match["words"]) else None  # 12:30 is a time
        words, weight = (match["words"], float(match["weight"])) if match else (body, 1.0)
        words = words.strip('"')
        if not words.strip():
            raise FrameFindError(f"query {text!r}: {token!r} has no words")
        if sign == 0 and match is None:
            plain.append(words)
        else:
            terms.append(Term("words", words.strip(), (sign or 1.0) * weight))
    return ((Term("words", " ".join(plain)),) if plain else ()) + tuple(terms)


def date_range(after: str | None = None, before: str | None = None) -> DateFilter | None:
    """``--from``/``--to`` values (2019, 2019-07, 2019-07-14, "last summer") -> taken from the start of
    the first to the end of the second."""
    bounds = []
    for text in (after, before):
        found = split_dates(text)[1] if text else None
        if text and (found is None or split_dates(text)[0] or (found.start is None and found.end is None)):
            raise FrameFindError(f"date {text!r}: not a date (try 2019, 2019-07 or 2019-07-14)")
        bounds.append(found)
    if bounds == [None, None]:
        return None
    start, end = bounds[0].start if bounds[0] else None, bounds[1].end if bounds[1] else None
    if start is not None and end is not None and start >= end:
        raise FrameFindError(f"dates: {after} is not before {before}")
    return DateFilter(start, end)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``visual=1,speech=2`` -> {"visual": 1.0, "speech": 2.0}, or a one-line error naming the bad part."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise FrameFindError(f"weights: {part!r} is not SIGNAL=NUMBER (e.g. speech=2)") from None
    return out


def feedback_key(text: str) -> str:
    """What feedback is filed under: the words as typed, case and spacing aside."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]
    k: int = 10
    min_score: float | None = None
    filters: Filters = field(default_factory=Filters)
    boost_labels: tuple[str, ...] = ()  # classify, then search: items with these labels rank first
    said: str | None = None  # the words as typed: feedback on earlier results is found by them
    words: str | None = None  # the words without the dates read from them: searched in speech and text
    cutoff: bool = True  # stop where relevance stops; False: a full page whatever the scores
    learn: bool = True  # re-rank by thumbs up/down given to this and similar queries
    signals: tuple[str, ...] = SIGNALS  # what may match: pictures, speech, on-screen text
    weights: tuple[tuple[str, float], ...] = ()  # signal -> weight in the fusion (default 1 each)
    read_places: bool = True  # the library's place names among the words become a place filter (search time)
    read_people: bool = True  # named people among the words become a person filter (search time)

    @classmethod
    def of(cls, text: str | None = None, *, image: str | Path | None = None, video: str | Path | None = None,
           minus_images: tuple[str | Path, ...] = (), k: int = 10, min_score: float | None = None,
           kinds: tuple[str, ...] = (), under: tuple[str | Path, ...] = (), dates: DateFilter | None = None,
           read_dates: bool = True, cutoff: bool = True, learn: bool = True,
           signals: tuple[str, ...] | None = None, weights: dict[str, float] | None = None,
           read_places: bool = True, read_people: bool = True, **filters) -> Query:
        """Words (with the +/- and weight syntax of ``parse_words``), an example image, images to push
        away from, or an example video on its own. Dates typed among the words ("beach 2019", "snow
        last winter") become a date filter unless quoted (or ``read_dates=False``); ``filters``: the
        other ``Filters`` fields (min_duration, max_duration, labels, places). Place names among the words are
        read by the library at search time (``read_places``; search/place_filter.py)."""
        said = text
        if text is not None and read_dates:
            text, typed = split_dates(text)
            if typed is not None and dates is None:
                dates = typed
            if typed is not None and not text.strip() and image is None:
                raise FrameFindError(f"query {said!r}: only a date; add what to look for (e.g. 'beach {said}')")
        terms = list(parse_words(text)) if text is not None and text.strip() else []
        terms += [Term("image", str(image))] if image is not None else []
        terms += [Term("image", str(path), -1.0) for path in minus_images]
        terms += [Term("video", str(video))] if video is not None else []
        boost = tuple(filters.pop("boost_labels", ()))
        chosen = Filters.of(kinds, under, dates=dates, **filters)
        return cls(tuple(terms), k, min_score, chosen, boost, said, text, cutoff, learn, tuple(signals or SIGNALS),
                   tuple(sorted((weights or {}).items())), read_places, read_people).checked()

    def with_names(self, words: str, places: tuple[str, ...] = (), people: tuple[str, ...] = ()) -> Query:
        """This query with ``places`` and ``people`` added to its filter and its words replaced by ``words`` (what
        is left once their names are taken out: possibly nothing, a search by place or person alone)."""
        kept = tuple(t for t in self.terms if t.kind != "words")
        terms = (parse_words(words) if words.strip() else ()) + kept
        filters = replace(self.filters, places=tuple(dict.fromkeys(self.filters.places + places)),
                          people=tuple(dict.fromkeys(self.filters.people + people)))
        return replace(self, terms=terms, filters=filters, words=words, read_places=False, read_people=False)

    def weight(self, signal: str) -> float:
        """How much ``signal`` (one of ``SIGNALS``) counts in the fusion: 0 when left out."""
        return dict(self.weights).get(signal, 1.0) if signal in self.signals else 0.0

    def checked(self) -> Query:
        """This query, or a one-line error naming the field that is wrong."""
        if not self.terms and not (self.filters.places or self.filters.people):  # a place or person alone: a list
            raise FrameFindError("empty query: give some words, --image FILE or --video FILE")
        if self.k < 1:
            raise FrameFindError(f"-k must be at least 1 (got {self.k})")
        for term in self.terms:
            if term.kind == "words" and not term.value.strip():
                raise FrameFindError("empty query: give some words to search for")
            if term.kind in ("image", "video") and not Path(term.value).is_file():
                raise FrameFindError(f"{term.value}: no such file")
            if term.weight == 0:
                raise FrameFindError(f"term {term.value!r}: a weight of 0 means nothing; leave the term out")
        if any(not re.search(r"\w", name) for name in self.filters.places + self.filters.people):
            raise FrameFindError(f"place or person filter: {self.filters.places + self.filters.people!r} holds a "
                                 "name without letters")
        if self.terms and not any(t.weight > 0 for t in self.terms):
            raise FrameFindError("a query needs at least one positive term (negative terms only push away)")
        videos = [t for t in self.terms if t.kind == "video"]
        if videos and len(self.terms) > 1:
            raise FrameFindError("an example video is a query on its own: it cannot be combined with other terms")
        lo, hi = self.filters.min_duration, self.filters.max_duration
        if min(lo or 0, hi or 0) < 0 or (lo is not None and hi is not None and lo > hi):
            raise FrameFindError(f"duration filter: {lo}..{hi} seconds is not a range")
        for name in set(self.signals) | {name for name, _ in self.weights}:
            if name not in SIGNALS:
                raise FrameFindError(f"signal {name!r}: unknown (choose {', '.join(SIGNALS)})")
        if not self.signals or any(weight < 0 for _, weight in self.weights):
            raise FrameFindError("signals: give at least one, with weights of 0 or more")
        unknown = set(self.filters.kinds) - set(KINDS)
        if unknown:
            raise FrameFindError(f"filter kind: unknown {', '.join(sorted(unknown))} (choose image or video)")
        return self
