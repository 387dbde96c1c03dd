// framefind web UI: plain DOM, no framework, no build step, nothing fetched from outside this server.
// One `state` object (api.js); small render functions rebuild the parts of the page that depend on it.
// This entry module wires the views together: search.js (asking and showing the results), grid.js
// (clicks on the results), cards.js (one result), notices.js (what a search says about itself: no
// match, dates and places read, votes learned), filters.js (date, place, length, label), feedback.js
// (votes), query.js (what is asked), viewer.js (the dialog), map.js (the map view), status.js (library
// status and indexing), signals.js (match by pictures, speech, text or the files' own words) and
// passages.js (what was said, written or named that matched).
//
// Every module imports only modules below it (api.js at the bottom; tests/test_web_modules.py checks
// that the graph has no cycle). Where a module must reach one above it (search again after a filter
// changed, "more like this" from the viewer), wire() passes that function in.

import { $, on, state } from "./api.js";
import { runSearch, syncUrl } from "./search.js";
import { wireGrid } from "./grid.js";
import { loadFeedback, wireFeedback } from "./feedback.js";
import { filtersChanged, readFiltersFromUrl, wireFilters } from "./filters.js";
import { wireNotices } from "./notices.js";
import { moreLike, setText, sizeBoxCanvas, wireExample, wireQuery } from "./query.js";
import { wireViewer } from "./viewer.js";
import { scheduleMapDraw, wireMap } from "./map.js";
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
  new ResizeObserver(() => scheduleMapDraw()).observe($("#map-wrap"));
  new ResizeObserver(() => { if (!$("#example").hidden) sizeBoxCanvas(); }).observe($("#example-media"));
}

async function start() {
  wire();
  const words = new URL(location.href).searchParams.get("q");
  readFiltersFromUrl(); // before anything rewrites the address
  syncUrl(); // drops ?token= right away
  await refreshStatus();
  loadFeedback();
  if (words) setText(words, true, { all: state.all, readDates: state.readDates, readPlaces: state.readPlaces });
  else runSearch(); // a place chosen lists what was taken there; else the welcome
}

start();
