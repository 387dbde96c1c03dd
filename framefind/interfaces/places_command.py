"""``framefind places``: where the library's photos and videos were taken (registered on the app by cli.py)."""

from __future__ import annotations

import json

from rich.table import Table

from framefind.interfaces.console import JsonOption, LibraryOption, err, one_line_errors, out


@one_line_errors
def places_command(library: LibraryOption = None, as_json: JsonOption = False) -> None:
    """Where the photos and videos were taken (their GPS, named offline), most first; search by any of these
    names ("beach in Lisbon", --place Portugal)."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        found = lib.places()
    if as_json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        err.print("no places: no photo or video here carries GPS coordinates")
        return
    table = Table(show_edge=False, header_style="bold")
    for name, justify in (("place", "left"), ("region", "left"), ("country", "left"), ("files", "right")):
        table.add_column(name, justify=justify)
    for place in found:
        table.add_row(place["city"], place["region"], place["country"], str(place["count"]))
    out.print(table)
