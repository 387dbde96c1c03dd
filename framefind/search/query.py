"""The typed query passed down the search path: weighted text, image and video terms, and filters.

A term with a negative weight pushes results away from it: its vector is subtracted (rclip's +/-
queries; CLIP-like models have no notion of "not X", so "not X" must not be embedded as text).
Filters become an allowed-id set inside the vector search, so a selective filter still returns k hits.
"""

from __future__ import annotations

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

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.under)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]
    k: int = 10
    min_score: float | None = None
    filters: Filters = field(default_factory=Filters)

    @classmethod
    def of(cls, text: str | None = None, *, image: str | Path | None = None, video: str | Path | None = None,
           k: int = 10, min_score: float | None = None, kinds: tuple[str, ...] = (),
           under: tuple[str | Path, ...] = ()) -> Query:
        """The common case: one text, image or video term."""
        terms = [Term("text", text)] if text is not None else []
        terms += [Term("image", str(image))] if image is not None else []
        terms += [Term("video", str(video))] if video is not None else []
        under = tuple(str(Path(p).expanduser().resolve()) for p in under)
        return cls(tuple(terms), k, min_score, Filters(tuple(kinds), under)).checked()

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
