"""Dates typed into the search box ("beach 2019", "snow last winter") become a date filter.

CLIP-like models cannot see when a picture was taken: embedding "2019" as text only adds noise,
while the capture time is known exactly from metadata. So date words are split off the query and
become a filter on capture time; the remaining words stay the visual query. Words inside double
quotes, ``+word``/``-word`` terms and ``word:2`` weights belong to the query syntax and are never dates.

All ranges are in local time (cameras record wall-clock time, and people think in it), end exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MONTHS = ("January", "February", "March", "April", "May", "June",
          "July", "August", "September", "October", "November", "December")  # fmt: skip
_MONTH = {name.lower(): i for i, name in enumerate(MONTHS, 1)} | {n[:3].lower(): i for i, n in enumerate(MONTHS, 1)}
_MONTH["sept"] = 9
SEASONS = {"winter": (12, 1, 2), "spring": (3, 4, 5), "summer": (6, 7, 8), "autumn": (9, 10, 11), "fall": (9, 10, 11)}
_BARE = {"in", "during", "from", "since", "before", "after", "until", "till"}  # may precede a month with no year
_ONE_SIDED = {"since", "after", "before", "until", "till"}
_TO = {"to", "until", "till", "-", "–", "through"}
_DAY = timedelta(days=1)
_YEAR = re.compile(r"(?:19|20)\d\d")
_YEARS = re.compile(r"((?:19|20)\d\d)[-–]((?:19|20)\d\d)")
_DECADE = re.compile(r"((?:19|20)\d)0s")
_ISO = re.compile(r"((?:19|20)\d\d)-(\d{2})(?:-(\d{2}))?")
TOKEN = re.compile(r'[+-]?"[^"]*"(?::-?\d+(?:\.\d+)?)?|\S+')  # the query syntax's tokens (search.query uses these too)

# (start, end, months): a concrete [start, end) range, either side open (None), and/or recurring months.
Span = tuple[datetime | None, datetime | None, tuple[int, ...]]


@dataclass(frozen=True)
class DateFilter:
    start: float | None = None  # epoch seconds, inclusive (local midnight of the first day)
    end: float | None = None  # epoch seconds, exclusive
    months: tuple[int, ...] = ()  # recurring months of any year (1-12): "in March" -> (3,)
    said: str = ""  # the words that made it, as typed ("last winter"), to show the user what was understood

    def describe(self) -> str:
        """Human text for the filter ("2019-01-01 to 2019-12-31", "March of any year"), showing the last
        day included rather than the exclusive end, since that is how people read a range."""
        first = datetime.fromtimestamp(self.start).date().isoformat() if self.start is not None else None
        last = (datetime.fromtimestamp(self.end) - _DAY).date().isoformat() if self.end is not None else None
        if first and last:
            span = first if first == last else f"{first} to {last}"
        else:
            span = f"since {first}" if first else f"until {last}" if last else ""
        if not self.months:
            return span
        names = [MONTHS[m - 1] for m in self.months]
        contiguous = all((b - a) % 12 == 1 for a, b in zip(self.months, self.months[1:], strict=False))
        month_text = f"{names[0]} to {names[-1]}" if len(names) > 1 and contiguous else ", ".join(names)
        return f"{month_text}, {span}" if span else f"{month_text} of any year"

    def matches(self, epoch: float) -> bool:
        """Whether a capture time (epoch seconds) falls in the filter, months judged in local time."""
        if (self.start is not None and epoch < self.start) or (self.end is not None and epoch >= self.end):
            return False
        return not self.months or datetime.fromtimestamp(epoch).month in self.months


def _add_months(day: datetime, n: int) -> datetime:
    """``day`` moved by ``n`` calendar months, the day clamped to the month's length (Mar 31 - 1 -> Feb 28)."""
    index = day.year * 12 + day.month - 1 + n
    year, month = divmod(index, 12)
    for clamp in range(day.day, 27, -1):
        try:
            return day.replace(year=year, month=month + 1, day=clamp)
        except ValueError:
            continue
    return day.replace(year=year, month=month + 1)


def _period(months: tuple[int, ...], year: int) -> tuple[datetime, datetime]:
    """Months (one, or a season) in ``year``: a season starting in December runs into the next year."""
    start = datetime(year, months[0], 1)
    return start, _add_months(start, len(months))


def _recent(months: tuple[int, ...], now: datetime, completed: bool = False) -> tuple[datetime, datetime]:
    """The latest such month or season that has begun (or, with ``completed``, ended) by ``now``."""
    for year in range(now.year, now.year - 3, -1):
        start, end = _period(months, year)
        if (end if completed else start) <= now:
            return start, end
    raise AssertionError("unreachable: a period within two years always qualifies")


def _word(token: str) -> str:
    """A token as the parser sees it; query syntax (quotes, +/- terms, weights) maps to "" and never matches."""
    if '"' in token or ":" in token or (token[:1] in "+-" and token not in ("-", "–")):
        return ""
    return token.lower().strip(",.;!?()")


def _relative(w: list[str], i: int, now: datetime) -> tuple[int, Span] | None:
    """today, yesterday, this/last week|month|year|season, last March, last/past N days|weeks|months|years."""
    today = datetime(now.year, now.month, now.day)
    word, nxt = w[i], w[i + 1] if i + 1 < len(w) else ""
    if word in ("today", "yesterday"):
        start = today - _DAY * (word == "yesterday")
        return 1, (start, start + _DAY, ())
    if word not in ("this", "last", "past"):
        return None
    back = int(word != "this")
    months = SEASONS.get(nxt) or ((_MONTH[nxt],) if back and nxt in _MONTH else None)  # "this may" is a verb
    if word != "past" and months:
        if back:
            return 2, (*_recent(months, now, completed=True), ())
        return 2, (*_period(months, now.year - (months[0] == 12 and now.month < 3)), ())
    if word != "past" and nxt in ("week", "month", "year"):
        if nxt == "week":
            start = today - timedelta(days=today.weekday() + 7 * back)  # weeks start on Monday
            return 2, (start, start + timedelta(days=7), ())
        start = _add_months(today.replace(day=1), -back) if nxt == "month" else datetime(now.year - back, 1, 1)
        return 2, (start, _add_months(start, 1 if nxt == "month" else 12), ())
    unit = w[i + 2].removesuffix("s") if i + 2 < len(w) else ""
    if not back or not nxt.isdigit() or not 0 < int(nxt) < 1000 or unit not in ("day", "week", "month", "year"):
        return None
    n = int(nxt)
    if unit in ("day", "week"):
        start = today - timedelta(days=n * (7 if unit == "week" else 1))
    else:
        start = _add_months(today, -n * (12 if unit == "year" else 1))
    return 3, (start, today + _DAY, ())


def _unit(w: list[str], i: int, now: datetime, bare: bool) -> tuple[int, Span] | None:
    """One date at ``w[i]``: how many words it takes and its span. ``bare``: a month or season with no
    year counts (after a preposition), as recurring months; alone "may" is a verb and "march" a word."""
    if i >= len(w):
        return None
    word, nxt = w[i], w[i + 1] if i + 1 < len(w) else ""
    if iso := _ISO.fullmatch(word):
        year, month, day = (int(part) if part else None for part in iso.groups())
        try:
            start = datetime(year, month, day or 1)
        except ValueError:
            return None
        return 1, (start, start + _DAY if day else _add_months(start, 1), ())
    if years := _YEARS.fullmatch(word):
        first, last = sorted(int(y) for y in years.groups())
        return 1, (datetime(first, 1, 1), datetime(last + 1, 1, 1), ())
    if decade := _DECADE.fullmatch(word):
        return 1, (datetime(int(decade[1]) * 10, 1, 1), datetime(int(decade[1]) * 10 + 10, 1, 1), ())
    months = (_MONTH[word],) if word in _MONTH else SEASONS.get(word)
    if months and nxt == "of" and i + 2 < len(w) and _YEAR.fullmatch(w[i + 2]):  # "summer of 2019"
        return 3, (*_period(months, int(w[i + 2])), ())
    if months and _YEAR.fullmatch(nxt):
        return 2, (*_period(months, int(nxt)), ())
    if _YEAR.fullmatch(word):
        return 1, (datetime(int(word), 1, 1), datetime(int(word) + 1, 1, 1), ())
    if months and bare:
        return 1, (None, None, months)
    return _relative(w, i, now)


def _through(a: Span, b: Span) -> Span:
    """ "from A to B": recurring months wrap (March to May, November to February); a month with no year
    borrows the other end's year; otherwise the range covering both."""
    if a[2] and b[2]:
        span = (b[2][-1] - a[2][0]) % 12 + 1
        return None, None, tuple((a[2][0] - 1 + k) % 12 + 1 for k in range(span))
    if a[2]:
        start = datetime(b[0].year, a[2][0], 1)
        a = (start if start <= b[0] else start.replace(year=start.year - 1), None, ())
    if b[2]:
        end = _period(b[2][-1:], a[0].year)[1]
        b = (None, end if end > a[0] else end.replace(year=end.year + 1), ())
    starts, ends = [s for s in (a[0], b[0]) if s], [e for e in (a[1], b[1]) if e]
    return min(starts), max(ends), ()


def _expression(w: list[str], i: int, now: datetime) -> tuple[int, Span] | None:
    """A date expression starting at ``w[i]``, with its preposition and range words: "in March",
    "since 2019", "from 2017 to 2019", "between May 2019 and June 2020", "2017-2019"."""
    word = w[i]
    lead = int(word in _BARE or word == "between")
    lead += lead and i + 1 < len(w) and w[i + 1] == "the"  # "in the summer of 2019", "from the 1990s"
    first = _unit(w, i + lead, now, bare=bool(lead))
    if first is None:
        return None
    n, span = first[0] + lead, first[1]
    joiner = w[i + n] if i + n < len(w) else ""
    if joiner in (_TO if word != "between" else {"and"}) and word not in _ONE_SIDED:
        second = _unit(w, i + n + 1, now, bare=bool(lead))
        if second:
            return n + 1 + second[0], _through(span, second[1])
    if word == "between":
        return None
    if word in _ONE_SIDED:
        start, end = _recent(span[2], now) if span[2] else span[:2]
        cut = end if word in ("after", "until", "till") else start
        return n, ((cut, None, ()) if word in ("since", "after") else (None, cut, ()))
    return n, span


def _combine(a: Span, b: Span) -> Span | None:
    """Two date expressions that obviously meant one ("in March ... 2019"): months within a range;
    exactly one calendar year narrows a month or season to that year ("in winter" + "2019" = winter 2019)."""
    if bool(a[2]) == bool(b[2]):
        return None
    months, (start, end, _) = (a[2], b) if a[2] else (b[2], a)
    if start and end and (start.month, start.day, end.month, end.day) == (1, 1, 1, 1) and end.year == start.year + 1:
        return (*_period(months, start.year), ())
    return start, end, months


def split_dates(text: str, now: datetime | None = None) -> tuple[str, DateFilter | None]:
    """The query without its date words, and the date filter they make (None when there are none).

    One date expression per query: a second one is merged when the meaning is obvious ("in March"
    and "2019"), else it stays as words. Text with no dates comes back untouched.
    """
    now = now or datetime.now()
    if now.tzinfo is not None:
        now = now.astimezone().replace(tzinfo=None)
    tokens = TOKEN.findall(text)
    words = [_word(token) for token in tokens]
    found: list[tuple[int, int, Span]] = []
    i = 0
    while i < len(words) and len(found) < 2:
        hit = _expression(words, i, now) if words[i] else None
        if hit:
            found.append((i, *hit))
        i += hit[0] if hit else 1
    if not found:
        return text, None
    merged = _combine(found[0][2], found[1][2]) if len(found) == 2 else None
    used = found if merged else found[:1]
    span = merged or found[0][2]
    taken = {k for start, n, _ in used for k in range(start, start + n)}
    rest = " ".join(token for k, token in enumerate(tokens) if k not in taken)
    said = " ".join(tokens[k] for k in sorted(taken))
    start, end = (None if edge is None else edge.timestamp() for edge in span[:2])
    return rest, DateFilter(start, end, span[2], said)
