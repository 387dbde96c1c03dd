"""The typed query passed down the search path: weighted text, image and video terms, and filters.

A term with a negative weight pushes results away from it: its vector is subtracted (rclip's +/-
queries; CLIP-like models have no notion of "not X", so "not X" must not be embedded as text).
Filters become an allowed-id set inside the vector search, so a selective filter still returns k hits.
Typed text is parsed into terms (``parse_text``): ``beach +sunset -people``, ``sunset:2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from framefind.errors import FrameFindError

TermKind = Literal["text", "image", "video", "item"]  # item: a library result by its stable key
KINDS = ("image", "video")


@dataclass(frozen=True)
class Term:
    kind: TermKind
    value: str  # the words, the path of an example image or video, or a result key ("more like this")
    weight: float = 1.0  # < 0: results should be unlike this


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()  # "image" and/or "video"; empty: both
    under: tuple[str, ...] = ()  # only files at or below these paths; empty: everywhere

    @classmethod
    def of(cls, kinds: tuple[str, ...] = (), under: tuple[str | Path, ...] = ()) -> Filters:
        """Folders as the catalog records paths: absolute, links resolved."""
        return cls(tuple(kinds), tuple(str(Path(p).expanduser().resolve()) for p in under))

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.under)


_WEIGHT = re.compile(r"^(?P<words>.*?):(?P<weight>-?\d+(?:\.\d+)?)$")
_TOKEN = re.compile(r'[+-]?"[^"]*"(?::-?\d+(?:\.\d+)?)?|\S+')


def parse_text(text: str) -> tuple[Term, ...]:
    """``beach +sunset -people``, ``sunset:2``, ``"red car" -"parking lot":0.5`` -> weighted text terms.

    Plain words form one phrase (weight 1); ``+words`` add a term, ``-words`` subtract one (CLIP-like
    models have no "not": the vector is pushed away instead, as rclip does); ``words:W`` weighs a term.
    Quotes group words into one term; a hyphen inside a word (t-shirt) is just a hyphen.
    """
    if text.count('"') % 2:
        raise FrameFindError(f"query {text!r}: a double quote is not closed")
    tokens = _TOKEN.findall(text)  # not shlex: an apostrophe (a dog's toy) is no quote here
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
            terms.append(Term("text", words.strip(), (sign or 1.0) * weight))
    return ((Term("text", " ".join(plain)),) if plain else ()) + tuple(terms)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]
    k: int = 10
    min_score: float | None = None
    filters: Filters = field(default_factory=Filters)

    @classmethod
    def of(cls, text: str | None = None, *, image: str | Path | None = None, video: str | Path | None = None,
           minus_images: tuple[str | Path, ...] = (), k: int = 10, min_score: float | None = None,
           kinds: tuple[str, ...] = (), under: tuple[str | Path, ...] = ()) -> Query:
        """Words (with the +/- and weight syntax of ``parse_text``), an example image, images to push
        away from, or an example video on its own."""
        terms = list(parse_text(text)) if text is not None else []
        terms += [Term("image", str(image))] if image is not None else []
        terms += [Term("image", str(path), -1.0) for path in minus_images]
        terms += [Term("video", str(video))] if video is not None else []
        return cls(tuple(terms), k, min_score, Filters.of(kinds, under)).checked()

    def checked(self) -> Query:
        """This query, or a one-line error naming the field that is wrong."""
        if not self.terms:
            raise FrameFindError("empty query: give some words, --image FILE or --video FILE")
        if self.k < 1:
            raise FrameFindError(f"-k must be at least 1 (got {self.k})")
        for term in self.terms:
            if term.kind == "text" and not term.value.strip():
                raise FrameFindError("empty query: give some words to search for")
            if term.kind in ("image", "video") and not Path(term.value).is_file():
                raise FrameFindError(f"{term.value}: no such file")
            if term.weight == 0:
                raise FrameFindError(f"term {term.value!r}: a weight of 0 means nothing; leave the term out")
        if not any(t.weight > 0 for t in self.terms):
            raise FrameFindError("a query needs at least one positive term (negative terms only push away)")
        videos = [t for t in self.terms if t.kind == "video"]
        if videos and len(self.terms) > 1:
            raise FrameFindError("an example video is a query on its own: it cannot be combined with other terms")
        unknown = set(self.filters.kinds) - set(KINDS)
        if unknown:
            raise FrameFindError(f"filter kind: unknown {', '.join(sorted(unknown))} (choose image or video)")
        return self
