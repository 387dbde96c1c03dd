"""``framefind people``: who is in the pictures (``index --faces``), and naming, merging and forgetting them.
Registered on the app by cli.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from framefind.interfaces.console import JsonOption, LibraryOption, err, notice, one_line_errors, out

people_app = typer.Typer(help="Who is in the pictures (index --faces finds them): list, name, merge, forget.",
                         no_args_is_help=False, invoke_without_command=True)
PersonArg = Annotated[int, typer.Argument(help="A person's id (framefind people lists them)", show_default=False)]


@people_app.callback()
@one_line_errors
def listing(ctx: typer.Context, library: LibraryOption = None, as_json: JsonOption = False) -> None:
    """List the people found, named first: id, name, faces, and the files where each appears."""
    if ctx.invoked_subcommand is not None:
        return
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        found, unsorted = lib.people.list(), lib.people.unsorted()
    if as_json:
        print(json.dumps([{"id": p.id, "name": p.name, "faces": p.faces, "paths": p.paths} for p in found], indent=2))
        return
    if not found:
        err.print("no people yet: index with --faces (a person needs two photos)" if not unsorted else
                  f"no people yet: {unsorted} faces seen once each (a person starts when seen again)")
        return
    table = Table(show_edge=False, header_style="bold")
    for name, justify in (("id", "right"), ("name", "left"), ("faces", "right"), ("first files", "left")):
        table.add_column(name, justify=justify)
    for person in found:
        table.add_row(str(person.id), person.name or "(unnamed)", str(person.faces), ", ".join(person.paths[:3]))
    out.print(table)
    if unsorted:
        err.print(f"{unsorted} faces seen once, not yet anyone (they join a person when seen again)", style="dim")


@people_app.command("name")
@one_line_errors
def name_person(person: PersonArg, name: Annotated[str, typer.Argument(help="The name to search by")],
                library: LibraryOption = None) -> None:
    """Name a person: the name then works in searches ("Anna at the beach", --person Anna)."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        lib.people.name(person, name)
    notice(f"person {person} is now {' '.join(name.split())}")


@people_app.command("merge")
@one_line_errors
def merge_people(keep: PersonArg, other: PersonArg, library: LibraryOption = None) -> None:
    """Two people are one: OTHER's faces become KEEP's (KEEP keeps its name)."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        lib.people.merge(keep, other)
    notice(f"person {other} merged into {keep}")


@people_app.command("forget")
@one_line_errors
def forget_person(person: PersonArg, library: LibraryOption = None) -> None:
    """Remove a person and their face data (the photos stay in the library)."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        removed = lib.people.forget(person)
    notice(f"person {person} forgotten: {removed} faces removed")
