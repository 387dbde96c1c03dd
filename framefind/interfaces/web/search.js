// Searching and what a search shows: the request for the current state, the results grid, and the
// empty, error and welcome states. Other modules ask for a search through runSearch / searchNow /
// searchSoon; the clicks on the grid and on the welcome box are handled in grid.js.

import { $, api, enc, formatCount, make, PAGE, state } from "./api.js";
import { addFilters, addVideoFilters, anyFilter, namesOnly, writeFiltersToUrl } from "./filters.js";
import { renderCard } from "./cards.js";
import { learnedNote, renderNotices, showEmpty, showNothingMatched } from "./notices.js";
import { paintSignals } from "./signals.js";
import { drawMap, MAP_HIGHLIGHT, mapState } from "./map.js";

const DEBOUNCE_MS = 200;

// ---------------------------------------------------------------------------------------------
// Searching
// ---------------------------------------------------------------------------------------------

/** The request for the current state: {url, init} or null when there is nothing to search for. */
function buildRequest() {
  if (state.mode === "text" && state.text.trim()) {
    const params = new URLSearchParams({ q: state.text, k: state.k });
    addFilters(params);
    if (!state.readDates) params.append("read_dates", "false");
    if (!state.readPlaces) params.append("read_places", "false");
    if (!state.readPeople) params.append("read_people", "false");
    return { url: `/api/search?${params}` };
  }
  if (namesOnly()) { // no words: everything taken there, or every photo of them
    const params = new URLSearchParams({ k: state.k });
    addFilters(params);
    return { url: `/api/search?${params}` };
  }
  if (state.mode === "image" || state.mode === "video") {
    const form = new FormData();
    form.append("file", state.example.file, state.example.name);
    form.append("k", state.k);
    if (state.mode === "image") {
      addFilters(form);
      if (state.example.box) form.append("box", state.example.box.map((v) => v.toFixed(4)).join(","));
    } else {
      addVideoFilters(form);
    }
    return { url: `/api/search/${state.mode}`, init: { method: "POST", body: form } };
  }
  if (state.mode === "similar") {
    const params = new URLSearchParams({ k: state.k });
    addFilters(params); // harmless if the endpoint ignores them; results are filtered here too
    return { url: `/api/similar/${enc(state.similar.key)}?${params}` };
  }
  return null;
}

/** The largest k each endpoint accepts (the server answers 422 past it). */
const maxK = () => (state.mode === "video" ? 100 : 500);

let inflight = null; // AbortController of the request whose answer we still want
let searchSeq = 0;

/** Search for the current state; resolves once its answer is on the page (or a newer one took over). */
export async function runSearch() {
  inflight?.abort(); // a newer question makes the older answer useless
  const request = buildRequest();
  syncUrl();
  paintSignals(); // they apply to words only
  if (!request) {
    inflight = null;
    showWelcome();
    return;
  }
  const controller = new AbortController();
  const seq = ++searchSeq;
  inflight = controller;
  setBusy(true);
  try {
    const data = await api(request.url, { ...request.init, signal: controller.signal });
    if (seq === searchSeq) renderResults(data);
  } catch (err) {
    if (err.name !== "AbortError" && seq === searchSeq) showError(err.message);
  } finally {
    if (seq === searchSeq) setBusy(false);
  }
}

let debounceTimer = 0;
export function searchSoon() {
  clearTimeout(debounceTimer);
  debounceTimer = setTimeout(runSearch, DEBOUNCE_MS);
}
export function searchNow() {
  clearTimeout(debounceTimer);
  runSearch();
}
/** Drop a pending typed search: a filter click asks at once (through filtersChanged) instead. */
export function cancelSoon() {
  clearTimeout(debounceTimer);
}

function setBusy(busy) {
  $("#busy").hidden = !busy;
  $("#grid").setAttribute("aria-busy", String(busy));
  if (busy && !state.results.length && $("#grid").childElementCount === 0) showSkeletons();
}

function showSkeletons() {
  $("#empty").hidden = true;
  $("#grid").replaceChildren(...Array.from({ length: 8 }, () => make("div", { className: "skeleton" })));
}

/** Keep ?q= (and the filters) in the address bar so a reload or a shared link repeats a text search. */
export function syncUrl() {
  const url = new URL(location.href);
  url.searchParams.delete("token"); // the server has set its cookie; keep the token out of history
  if (state.mode === "text" && state.text.trim()) url.searchParams.set("q", state.text);
  else url.searchParams.delete("q");
  writeFiltersToUrl(url.searchParams);
  if (url.href !== location.href) history.replaceState(null, "", url);
}

/** Filters the server may not apply (similar and example-video searches): apply them here. */
function passesFilters(result) {
  if (state.kind && result.kind !== state.kind) return false;
  const folder = state.under.replace(/\/?$/, "/");
  return !state.under || [result.path, ...(result.duplicates || [])].some((p) => `${p}/`.startsWith(folder));
}

// ---------------------------------------------------------------------------------------------
// Rendering results
// ---------------------------------------------------------------------------------------------

function renderResults(data) {
  const all = data.results || [];
  state.results = all.filter(passesFilters);
  state.answer = data;
  $("#error").hidden = true;
  renderSummary(data, state.results.length);
  renderNotices(data);
  $("#grid").replaceChildren(...state.results.map(renderCard));
  $("#more").hidden = all.length < state.k || state.k + PAGE > maxK();
  if (state.results.length) {
    $("#empty").hidden = true;
  } else if (!showNothingMatched(data)) {
    const filtered = state.kind || state.under || anyFilter();
    if (state.only && state.mode === "text") showNothingBy(state.only); // (a cutoff, any signal: shown above)
    else showEmpty("No results", filtered
      ? "Nothing matched with these filters. Try All, all folders, or clear the filters."
      : "Try other words, or drop an example image or video anywhere on the page.");
  }
  mapState.highlight = new Set(state.results.slice(0, MAP_HIGHLIGHT).map((r) => r.key));
  if (!$("#map-view").hidden) drawMap();
}

/** Nothing for words matched by one signal only: say which, and offer every signal. */
function showNothingBy(signal) {
  const what = { visual: "in the pictures", speech: "said in a video", text: "written in a picture or a frame",
    metadata: "in the files’ own words (folder and file names, captions, keywords)" }[signal];
  const button = make("button", { type: "button", className: "btn btn-primary", id: "search-everything",
    textContent: "Search everything", onclick: () => {
      state.only = "";
      paintSignals();
      runSearch().then(() => ($(".card") || $("#q")).focus());
    } });
  showEmpty("No results", `Nothing ${what} matched “${state.text.trim()}”. Search everything: pictures, ` +
    "speech, text and the files’ words.", make("div", { className: "suggestions" }, button));
}

function renderSummary(data, count) {
  const summary = $("#summary");
  const what = {
    text: () => `for “${state.text}”`,
    image: () => `for ${state.example.box ? `a region of ${state.example.name}` : state.example.name}`,
    video: () => `for ${state.example.name}`,
    similar: () => `for items like ${state.similar.name}`,
    names: namesListed,
  }[state.mode || "names"]();
  summary.replaceChildren(make("strong", { textContent: formatCount(count, "result") }),
    ` ${what} · ${Math.round(data.took_ms ?? 0)} ms · ${data.model ?? ""}`);
  if (data.note) summary.append(" · ", make("span", { className: "note", textContent: data.note }));
  const learned = learnedNote(data);
  if (learned) summary.append(" · ", learned);
}

/** What a list by place or person shows: "showing Barack, taken in Lisbon". */
function namesListed() {
  const { person, place } = state.filters;
  return [person.length && `showing ${person.join(" and ")}`, place.length && `taken in ${place.join(", ")}`]
    .filter(Boolean).join(", ");
}

function clearResults() {
  state.results = [];
  state.answer = null;
  $("#grid").replaceChildren();
  $("#summary").textContent = "";
  $("#notices").replaceChildren();
  for (const id of ["#empty", "#error", "#more", "#cutoff-line"]) $(id).hidden = true;
}

function showError(message) {
  clearResults();
  $("#error").textContent = message;
  $("#error").hidden = false;
}

/** Nothing asked yet: a first-run hint when the library is empty, else a few clickable examples
 *  (their clicks and the form's submit are handled in grid.js). */
export function showWelcome() {
  clearResults();
  const status = state.status;
  if (status && !status.files && !status.index?.running) {
    const form = make("form", { className: "index-form" },
      make("input", { name: "path", placeholder: "/home/me/Pictures", required: true, ariaLabel: "Folder to index" }),
      make("button", { className: "btn btn-primary", textContent: "Index folder" }));
    showEmpty("Your library is empty", ["Add a folder of photos and videos here, or run ",
      make("code", { textContent: "framefind index ~/Pictures" }), ". Searching works as soon as indexing is done."], form);
    return;
  }
  const examples = make("div", { className: "suggestions" },
    ...["a cup of coffee", "a cat", "a rocket launch", "sunset over the sea", "people on bikes"].map((words) => {
      const button = make("button", { type: "button", className: "btn", textContent: words });
      button.dataset.words = words;
      return button;
    }));
  showEmpty("Search your photos and videos", "Describe what you are looking for, or drop or paste an image or a " +
    "video anywhere on this page to find similar ones.", examples);
}
