"""How ``framefind search`` shows a page on a terminal, and writes the clips of the moments it found."""

from __future__ import annotations

import re
from pathlib import Path

from rich.table import Table
from rich.text import Text

from framefind.interfaces.console import err, notice, out
from framefind.search.results import Result, SearchPage


def print_page(page: SearchPage) -> None:
    """A search page as a table: score, kind, path, where it was taken, and each signal's words."""
    if page.dates:
        notice(f"taken {page.dates}; quote the words to search for them instead")
    if page.places:
        notice(f"taken in {page.places}; --no-places searches the words instead")
    if page.people:
        notice(f"showing {page.people}; --no-people searches the words instead")
    if page.learned:
        notice(f"ranking adjusted by {page.learned} thumbs up/down on this and similar queries")
    if page.nothing_matched:
        err.print(page.why_nothing())
        return
    if not page.results:
        err.print("no results")
        return
    table = Table(show_edge=False, header_style="bold")
    for name, justify in (("#", "right"), ("score", "right"), ("kind", "left"), ("path", "left")):
        table.add_column(name, justify=justify)
    for rank, r in enumerate(page.results, 1):
        where = r.path + (f"  [{r.start:.1f}s-{r.end:.1f}s, best {r.frame_time:.1f}s]" if r.kind == "video" else "")
        where += f"  (+{len(r.near_duplicates)} near-duplicates)" if r.near_duplicates else ""
        cell = Text(where, overflow="fold")
        if r.place:
            cell.append(f"\n  taken in {r.place}", style="dim")
        for match in (m for m in r.matches if m.signal != "visual"):
            when = f" {match.start:.1f}s" if match.start is not None else ""
            said = {"speech": "said", "text": "written", "face": "face"}.get(match.signal, match.signal)
            # the file's own words name where they are themselves: "caption: A red «tram»", "folder: «Gaudi» walk"
            cell.append("\n  " if match.signal == "metadata" else f"\n  {said}{when}: ", style="dim")
            for number, part in enumerate(re.split("[«»]", match.text)):
                cell.append(part, style="bold yellow" if number % 2 else "")  # «the words that matched»
        table.add_row(str(rank) + ("*" if r.pinned else ""), f"{r.score:.3f}", r.kind, cell)
    out.print(table)
    if page.below_cutoff:
        err.print(f"{page.below_cutoff} weaker results (score under {page.cutoff:.3f}) hidden (--all shows them)",
                  style="dim")


def write_clips(results: list[Result], directory: Path, fast: bool) -> None:
    """``search --save-clips``: an mp4 of each video moment found, its path recorded on the result."""
    from framefind.media.cut import cut_video, moment_span

    for rank, r in enumerate((r for r in results if r.kind == "video"), 1):
        start, end = moment_span(r.start, r.end, r.frame_time)
        target = directory / f"{rank:02d}-{Path(r.path).stem}-{start:.1f}-{end:.1f}.mp4"
        clip = cut_video(Path(r.path), start, end, target, fast=fast)
        r.clip = str(clip.path)
        notice(f"saved {clip.path} ({clip.duration:.1f} s)")
