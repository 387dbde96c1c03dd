// The three views of the page, switched by the tabs in the header: Results (the grid), Map (the library
// as a 2-D map, map.js) and People (who is in the pictures, people.js). ARIA tabs: arrow keys move between
// them.

import { $, on } from "./api.js";
import { drawMap, loadMap } from "./map.js";
import { loadPeople, renderPeople } from "./people.js";

const VIEWS = ["results", "map", "people"];

/** Show one view ("results", "map" or "people") and select its tab. */
export function showView(name) {
  document.body.dataset.view = name; // app.css hides what belongs to another view (the example image)
  for (const view of VIEWS) {
    const shown = view === name;
    $(`#${view}-view`).hidden = !shown;
    $(`#tab-${view}`).setAttribute("aria-selected", String(shown));
    $(`#tab-${view}`).tabIndex = shown ? 0 : -1;
  }
  if (name === "map") {
    document.documentElement.style.setProperty("--header-h", `${$(".top").offsetHeight}px`);
    loadMap();
    drawMap();
  } else if (name === "people") {
    renderPeople();
    loadPeople();
  }
}

export const currentView = () => VIEWS.find((view) => !$(`#${view}-view`).hidden) || "results";

export function wireViews() {
  for (const view of VIEWS) on(`#tab-${view}`, "click", () => showView(view));
  on(".tabs", "keydown", (event) => { // arrow keys move between the tabs (ARIA tabs pattern)
    const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!step) return;
    const next = VIEWS[(VIEWS.indexOf(currentView()) + step + VIEWS.length) % VIEWS.length];
    showView(next);
    $(`#tab-${next}`).focus();
  });
}
