// framefind web UI: plain DOM, no framework, no build step, nothing fetched from outside this server.
// One `state` object (api.js); small render functions rebuild the parts of the page that depend on it.
// This entry module wires the views together: search.js (asking and showing the results), grid.js
// (clicks on the results), cards.js (one result), notices.js (what a search says about itself: no
// match, dates, places and people read, votes learned), filters.js (date, place, person, length, label),
// feedback.js (votes), query.js (what is asked), viewer.js (the dialog), views.js (the Results, Map and
// People tabs), map.js (the map view), people.js (the people view and the list of people), status.js
// (library status and indexing), signals.js (match by pictures, speech, text or the files' own words) and
// passages.js (what was said, written or named that matched).
//
// Every module imports only modules below it (api.js at the bottom; tests/test_web_modules.py checks
// that the graph has no cycle). Where a module must reach one above it (search again after a filter
// changed, "more like this" from the viewer), wire() passes that function in.

import { $, on, state } from "./api.js";
import { runSearch, syncUrl } from "./search.js";
import { wireGrid } from "./grid.js";
import { loadFeedback, wireFeedback } from "./feedback.js";
import { choosePerson, filtersChanged, readFiltersFromUrl, wireFilters } from "./filters.js";
import { wireNotices } from "./notices.js";
import { moreLike, setText, sizeBoxCanvas, wireExample, wireQuery } from "./query.js";
import { wireViewer } from "./viewer.js";
import { scheduleMapDraw, wireMap } from "./map.js";
import { loadPeople, wirePeople } from "./people.js";
import { showView, wireViews } from "./views.js";
import { refreshStatus, wireStatus } from "./status.js";
import { wireSignals } from "./signals.js";

function onGlobalKey(event) {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
  if (event.key === "/" && !typing && !$("#viewer").open) {
    event.preventDefault();
    $("#q").focus();
    $("#q").select();
  }
}

/** A person clicked in the People view: their photos, listed by the Person filter with no words. */
function showPerson(name) {
  choosePerson(name);
  showView("results");
  setText("", true);
  window.scrollTo({ top: 0 });
}

function wire() {
  wireQuery();
  on(document, "keydown", onGlobalKey);
  wireGrid();
  wireFilters({ runSearch });
  wireSignals({ filtersChanged });
  wireNotices({ runSearch });
  wireStatus();
  wireExample();
  wireViewer({ moreLike });
  wireFeedback({ runSearch });
  wireMap();
  wirePeople({ showPerson });
  wireViews();
  new ResizeObserver(() => scheduleMapDraw()).observe($("#map-wrap"));
  new ResizeObserver(() => { if (!$("#example").hidden) sizeBoxCanvas(); }).observe($("#example-media"));
}

async function start() {
  wire();
  const words = new URL(location.href).searchParams.get("q");
  readFiltersFromUrl(); // before anything rewrites the address
  syncUrl(); // drops ?token= right away
  await Promise.all([refreshStatus(), loadPeople()]); // people: to tell a name read from the words from a place
  loadFeedback();
  const { all, readDates, readPlaces, readPeople } = state;
  if (words) setText(words, true, { all, readDates, readPlaces, readPeople });
  else runSearch(); // a place or person chosen lists what was taken there or shows them; else the welcome
}

start();
