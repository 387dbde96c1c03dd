"""The web app's module structure (framefind/interfaces/web/*.js, ES modules served as they are).

Each module imports only modules below it: the import graph has no cycle, app.js (the entry, which wires
the modules together) is imported by none, and no module puts its internals on ``window`` (the browser
tests drive the page as a person does, through the DOM). Read from the sources: no browser needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).parent.parent / "framefind" / "interfaces" / "web"
ENTRY = "app.js"

# import {a, b} from "./x.js" (also over several lines), import x from, import * as x from, export ... from,
# import "./x.js" and import("./x.js"). A statement starts a line: commented-out imports do not count.
STATIC = re.compile(r"^[ \t]*(?:import|export)\b[^;\"'`]*?\bfrom\s*[\"']([^\"']+)[\"']", re.MULTILINE)
BARE = re.compile(r"^[ \t]*import\s*[\"']([^\"']+)[\"']", re.MULTILINE)
DYNAMIC = re.compile(r"\bimport\(\s*[\"']([^\"']+)[\"']\s*\)")
WINDOW_WRITE = re.compile(r"\bObject\.assign\(\s*(?:window|globalThis)\b|\b(?:window|globalThis)\.[\w$]+\s*=(?!=)")


def imports_of(source: str) -> list[str]:
    """The module specifiers a JavaScript module imports, in order of appearance."""
    found = [(m.start(), m.group(1)) for pattern in (STATIC, BARE, DYNAMIC) for m in pattern.finditer(source)]
    return [spec for _, spec in sorted(found)]


def import_graph(folder: Path) -> dict[str, list[str]]:
    """{module: [modules it imports]} for the .js files of a folder (specifiers resolved to file names)."""
    graph = {}
    for path in sorted(folder.glob("*.js")):
        targets = []
        for spec in imports_of(path.read_text(encoding="utf-8")):
            assert spec.startswith("./") and "/" not in spec[2:], f"{path.name} imports {spec!r}: only ./name.js"
            targets.append(spec[2:])
        graph[path.name] = targets
    return graph


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], stack[len(stack):] = "open", [node]
        for target in graph.get(node, []):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, list[str]]:
    found = import_graph(WEB)
    assert ENTRY in found and len(found) >= 10, sorted(found)
    return found


def test_the_parser_reads_every_form_of_import():
    source = """
        import { a, b } from "./one.js";
        import {
          c,
          d,
        } from './two.js';
        import * as three from "./three.js";
        export { e } from "./four.js";
        import "./five.js";
        const six = await import("./six.js");
        // import { f } from "./commented.js";
        const text = "import nothing from here";
    """
    assert imports_of(source) == ["./one.js", "./two.js", "./three.js", "./four.js", "./five.js", "./six.js"]


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a.js": ["b.js"], "b.js": ["c.js"], "c.js": ["a.js"], "d.js": ["a.js"]}) in (
        ["a.js", "b.js", "c.js", "a.js"], ["b.js", "c.js", "a.js", "b.js"], ["c.js", "a.js", "b.js", "c.js"])
    assert find_cycle({"a.js": ["b.js", "c.js"], "b.js": ["c.js"], "c.js": []}) is None
    assert find_cycle({"a.js": ["a.js"]}) == ["a.js", "a.js"]


def test_every_import_names_a_module_of_the_app(graph):
    missing = {(name, target) for name, targets in graph.items() for target in targets if target not in graph}
    assert not missing, missing


def test_the_import_graph_has_no_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_entry_is_imported_by_no_module_and_reaches_them_all(graph):
    assert not [name for name, targets in graph.items() if ENTRY in targets]
    assert '<script type="module" src="/static/app.js">' in (WEB / "index.html").read_text(encoding="utf-8")
    reached, todo = set(), [ENTRY]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert reached == set(graph), f"never loaded: {sorted(set(graph) - reached)}"


def test_no_module_puts_its_internals_on_window():
    writes = {path.name: WINDOW_WRITE.findall(path.read_text(encoding="utf-8")) for path in WEB.glob("*.js")}
    assert not {name: found for name, found in writes.items() if found}
