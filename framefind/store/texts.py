"""What is said and what is written, stored by content and time: one row per phrase or text span,
a full-text index over them (SQLite FTS5: BM25 ranking, phrases, prefixes, porter stemming) and a
MiniLM vector each for meaning-based matches ("the part about money" finds "the quarterly budget").

Texts belong to content, not to a model: switching image models keeps every transcript.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from framefind.store.catalog import TEXTS_CHANGED, Catalog, decode, encode, texts_changed

# ``texts.source`` (stored: never renamed) and the search signal each source feeds, under the same value: what
# is said in a video, what is written on screen in a picture or frame (OCR; users call that signal "text"), and
# what the file says about itself (folder and file names, captions, keywords: store/describe.py).
SPEECH, ONSCREEN, METADATA = "speech", "text", "metadata"


@dataclass(frozen=True)
class TextHit:
    """A phrase or text span that matched a query."""

    hash: str
    source: str  # SPEECH, ONSCREEN, METADATA (or the face signal's hits, search/face_match.py)
    start: float | None  # seconds in a video; None for an image
    end: float | None
    text: str
    score: float  # BM25 (as a positive number) or cosine, per ranking
    snippet: str = ""  # the words that matched, in «», for keyword hits
    partial: bool = False  # a keyword hit holding only some of the query's words
    field: str | None = None  # METADATA texts: where in the file the words are (folder, name, caption, keywords, ...)
    relevance: float | None = None  # set when the signal judges its own hits (faces); else from the phrase's cosine


Spans = list[tuple[float | None, float | None, str]]  # (start, end, text); times None for an image's texts


def put_texts(catalog: Catalog, content: str, source: str, spans: Spans, vectors: np.ndarray | None,
              fields: list[str] | None = None) -> None:
    """Replace the texts of one content and source (inside the caller's transaction); ``fields``: where each
    span came from (METADATA texts)."""
    put_texts_many(catalog, source, [(content, spans, vectors, fields)])


def put_texts_many(catalog: Catalog, source: str,
                   rows: list[tuple[str, Spans, np.ndarray | None, list[str] | None]]) -> None:
    """Replace the texts of many contents of one source at once (inside the caller's transaction): (content, its
    spans, their vectors, their fields) each; a few statements a batch, not several a content and text."""
    db = catalog.db
    texts_changed(db)
    contents = [content for content, _, _, _ in rows]
    catalog.rows_in("DELETE FROM texts_fts WHERE rowid IN (SELECT id FROM texts WHERE source = ? AND hash IN ({}))",
                    (source,), contents)
    catalog.rows_in("DELETE FROM texts WHERE source = ? AND hash IN ({})", (source,), contents)
    db.executemany("INSERT INTO texts (hash, source, start, end, text, vec, field) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [(content, source, start, end, text, encode(vectors[row]) if vectors is not None else None,
                     fields[row] if fields is not None else None)
                    for content, spans, vectors, fields in rows for row, (start, end, text) in enumerate(spans)])
    catalog.rows_in("INSERT INTO texts_fts (rowid, text) SELECT id, text FROM texts WHERE source = ? AND hash IN ({})",
                    (source,), contents)


def fts_terms(words: str) -> list[str]:
    """Typed words -> FTS5 terms: "quoted phrases" stay phrases, ``budg*`` is a prefix, every other
    word is a plain term (quoted, so FTS5 operators and punctuation in the words cannot break it)."""
    parts = []
    for sign, phrase, word in re.findall(r'([+-]?)"([^"]+)"(?::[\d.]+)?|(\S+)', words):
        if sign == "-" or word.startswith("-"):
            continue  # "-people": to push away, not to find
        word = re.sub(r":-?\d+(?:\.\d+)?$", "", word.lstrip("+"))  # "sunset:2": the word, not its weight
        if phrase:
            tokens = re.findall(r"\w+", phrase)
            parts += [f'"{" ".join(tokens)}"'] if tokens else []
        else:
            prefix = word.endswith("*")
            tokens = re.findall(r"\w+", word)
            parts += [f'"{t}"' for t in tokens[:-1]] + ([f'"{tokens[-1]}"' + ("*" if prefix else "")] if tokens else [])
    return parts


# Words too common to be the point of a query: left out when matching *any* of the words.
STOPWORDS = frozenset({"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he",
    "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "our", "she", "so", "that", "the", "their",
    "them", "there", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "will",
    "with", "you", "your", "part", "about"})


def keyword_hits(catalog: Catalog, words: str, sources: tuple[str, ...], limit: int = 200,
                 vector: np.ndarray | None = None) -> list[TextHit]:
    """Texts holding all the words (else any word that is not a stopword), best BM25 first; with the
    query's MiniLM ``vector`` each hit's score is its cosine (BM25 is 0 in a small collection)."""
    terms = fts_terms(words)
    rare = [t for t in terms if t.strip('"*').lower() not in STOPWORDS]
    where = f"AND t.source IN ({','.join('?' * len(sources))})"
    sql = (f"SELECT t.hash, t.source, t.start, t.end, t.text, -bm25(texts_fts), "
           f"snippet(texts_fts, 0, '«', '»', '…', 16), t.vec, t.field FROM texts_fts "
           f"JOIN texts t ON t.id = texts_fts.rowid WHERE texts_fts MATCH ? {where} ORDER BY bm25(texts_fts) LIMIT ?")
    every = " ".join(terms)
    for match in dict.fromkeys(m for m in (every, " OR ".join(rare)) if m):  # all words, else any
        rows = catalog.db.execute(sql, (match, *sources, limit)).fetchall()
        if rows:
            scores = [row[5] for row in rows]
            if vector is not None and all(row[7] is not None for row in rows):
                scores = (decode([row[7] for row in rows]) @ vector).tolist()
            partial = match != every and len(rare) > 1
            return [TextHit(*row[:5], round(float(score), 4), row[6], partial, row[8])
                    for row, score in zip(rows, scores, strict=True)]
    return []


def complete_prefixes(catalog: Catalog, words: str, sources: tuple[str, ...]) -> str:
    """``words`` with each ``prefix*`` replaced by the word it most often matches in the stored texts
    ("quart*" -> "quarterly"), so the text model judges a phrase's meaning by a word and not by a
    fragment it cannot read; unchanged without prefixes or matches."""
    prefixes = [t.strip('"*').lower() for t in fts_terms(words) if t.endswith("*")]
    if not prefixes:
        return words
    marked = Counter(word.lower() for hit in keyword_hits(catalog, words, sources, 50)
                     for word in re.findall(r"«([^»]+)»", hit.snippet))
    for prefix in prefixes:
        found = sorted((w for w in marked if w.startswith(prefix)), key=lambda w: (-marked[w], w))
        if found:
            words = re.sub(rf"(?i)\b{re.escape(prefix)}\*", found[0], words)
    return words


def semantic_hits(catalog: Catalog, vector: np.ndarray, sources: tuple[str, ...], floor: float,
                  limit: int = 200) -> list[TextHit]:
    """Texts whose MiniLM vector is within ``floor`` cosine of the query's, best first (exact scan of each
    distinct text once: a folder's words are shared by every photo in it)."""
    hits: list[TextHit] = []
    for source in sources:
        scan = _scan(catalog, source)
        if not scan.texts:
            continue
        scores = scan.matrix @ vector
        for i in np.argsort(-scores):
            if scores[i] < floor or len(hits) >= limit * len(sources):
                break
            hits += [TextHit(content, source, start, end, scan.texts[i], float(scores[i]), field=field)
                     for content, start, end, field in scan.rows[i][:limit]]
    hits.sort(key=lambda hit: -hit.score)
    return hits[:limit]


@dataclass(frozen=True)
class _Scan:
    """One source's distinct texts, their vectors (float32, ready to multiply) and the rows holding each."""

    stamp: str
    texts: list[str]
    matrix: np.ndarray
    rows: list[list[tuple[str, float | None, float | None, str | None]]]  # (content, start, end, field)


_SCANS: dict[tuple[str, str], _Scan] = {}
_SCANS_KEPT = 8  # libraries x sources held at once in one process


def _scan(catalog: Catalog, source: str) -> _Scan:
    """``source``'s texts decoded once and kept until they change (``meta.texts_changed``, bumped by every
    write): decoding every stored vector on every query cost ~40 ms at 10k photos' words."""
    stamp = catalog.meta(TEXTS_CHANGED) or "0"
    key = (str(catalog.path), source)
    found = _SCANS.get(key)
    if found is not None and found.stamp == stamp:
        return found
    rows = catalog.db.execute("SELECT hash, start, end, text, vec, field FROM texts WHERE vec IS NOT NULL "
                              "AND source = ? ORDER BY id", (source,)).fetchall()
    index: dict[str, int] = {}
    blobs, holders = [], []
    for content, start, end, text, vec, field in rows:
        if text not in index:
            index[text] = len(blobs)
            blobs.append(vec)
            holders.append([])
        holders[index[text]].append((content, start, end, field))
    scan = _Scan(stamp, list(index), decode(blobs), holders)
    if len(_SCANS) >= _SCANS_KEPT:
        _SCANS.pop(next(iter(_SCANS)))
    _SCANS[key] = scan
    return scan


def sources_present(catalog: Catalog, sources: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``sources`` the library holds any text of (a signal with nothing stored is not searched)."""
    if not sources:
        return ()
    probes = " UNION ALL ".join("SELECT ? WHERE EXISTS (SELECT 1 FROM texts WHERE source = ?)" for _ in sources)
    found = {row[0] for row in catalog.db.execute(probes, [value for s in sources for value in (s, s)])}
    return tuple(s for s in sources if s in found)
