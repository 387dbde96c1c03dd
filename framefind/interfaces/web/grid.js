// Searching, the results grid and its filters, and feedback (thumbs up / down) on results.

import {
  $, $$, api, baseName, enc, formatCount, formatRange, isVideoMoment, make, on, PAGE, state, toast,
} from "./api.js";
import { moreLike, setText } from "./query.js";
import { openViewer, viewer } from "./viewer.js";
import { drawMap, MAP_HIGHLIGHT, mapState } from "./map.js";
import { startIndex } from "./status.js";

const DEBOUNCE_MS = 200;

// ---------------------------------------------------------------------------------------------
// Searching
// ---------------------------------------------------------------------------------------------

/** What feedback is filed under: the words typed, the example's file name, or "similar:KEY". */
function queryLabel() {
  if (state.mode === "text") return state.text.trim(); // the server stores the query stripped
  if (state.mode === "image" || state.mode === "video") return state.example.name;
  if (state.mode === "similar") return `similar:${state.similar.key}`;
  return "";
}

function addFilters(params) {
  if (state.kind) params.append("kind", state.kind);
  if (state.under) params.append("under", state.under);
}

/** The request for the current state: {url, init} or null when there is nothing to search for. */
function buildRequest() {
  if (state.mode === "text" && state.text.trim()) {
    const params = new URLSearchParams({ q: state.text, k: state.k });
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

export async function runSearch() {
  inflight?.abort(); // a newer question makes the older answer useless
  const request = buildRequest();
  syncUrl();
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

function setBusy(busy) {
  $("#busy").hidden = !busy;
  $("#grid").setAttribute("aria-busy", String(busy));
  if (busy && !state.results.length && $("#grid").childElementCount === 0) showSkeletons();
}

function showSkeletons() {
  $("#empty").hidden = true;
  $("#grid").replaceChildren(...Array.from({ length: 8 }, () => make("div", { className: "skeleton" })));
}

/** Keep ?q= in the address bar so a reload or a shared link repeats a text search. */
export function syncUrl() {
  const url = new URL(location.href);
  url.searchParams.delete("token"); // the server has set its cookie; keep the token out of history
  if (state.mode === "text" && state.text.trim()) url.searchParams.set("q", state.text);
  else url.searchParams.delete("q");
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
  $("#error").hidden = true;
  renderSummary(data, state.results.length);
  $("#grid").replaceChildren(...state.results.map(renderCard));
  $("#more").hidden = all.length < state.k || state.k + PAGE > maxK();
  if (state.results.length) {
    $("#empty").hidden = true;
  } else {
    showEmpty("No results", state.kind || state.under
      ? "Nothing matched with these filters. Try All, or all folders."
      : "Try other words, or drop an example image or video anywhere on the page.");
  }
  mapState.highlight = new Set(state.results.slice(0, MAP_HIGHLIGHT).map((r) => r.key));
  if (!$("#map-view").hidden) drawMap();
}

function renderSummary(data, count) {
  const summary = $("#summary");
  const what = {
    text: () => `“${state.text}”`,
    image: () => (state.example.box ? `a region of ${state.example.name}` : state.example.name),
    video: () => state.example.name,
    similar: () => `items like ${state.similar.name}`,
  }[state.mode]();
  summary.replaceChildren(make("strong", { textContent: formatCount(count, "result") }),
    ` for ${what} · ${Math.round(data.took_ms ?? 0)} ms · ${data.model ?? ""}`);
  if (data.note) summary.append(" · ", make("span", { className: "note", textContent: data.note }));
}

function renderCard(result, index) {
  const card = $("#card-tpl").content.firstElementChild.cloneNode(true);
  const name = result.name || baseName(result.path);
  card.dataset.index = index;
  card.dataset.key = result.key;
  card.dataset.kind = result.kind;
  const why = (result.why || []).join(" · ");
  const when = isVideoMoment(result) ? `, video ${formatRange(result)}` : "";
  card.setAttribute("aria-label", `${name}${when}, score ${result.score.toFixed(2)}${why ? `. ${why}` : ""}`);
  card.title = [result.path, why].filter(Boolean).join("\n");

  const img = $("img", card);
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.src = result.thumbnail_url;
  $(".score", card).textContent = result.score.toFixed(2);
  if (result.kind === "video") {
    const badge = $(".time", card);
    badge.hidden = false;
    $("span", badge).textContent = isVideoMoment(result) ? formatRange(result) : "video";
  }
  $(".why", card).textContent = why;
  $(".name", card).textContent = name;
  const copies = result.duplicates?.length;
  if (copies) $(".name", card).append(" ", make("small", { textContent: `+${copies}`, title: "more copies" }));
  paintVotes(card, result.key);
  return card;
}

/** The empty / welcome box: a title, a text (string or nodes) and optional extra content. */
function showEmpty(title, text, extra) {
  const box = $("#empty");
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("class", "icon big");
  icon.innerHTML = '<use href="#i-search"/>';
  box.replaceChildren(icon, make("h2", { textContent: title }), make("p", {}, ...[].concat(text)));
  if (extra) box.append(extra);
  box.hidden = false;
}

function clearResults() {
  state.results = [];
  $("#grid").replaceChildren();
  $("#summary").textContent = "";
  for (const id of ["#empty", "#error", "#more"]) $(id).hidden = true;
}

function showError(message) {
  clearResults();
  $("#error").textContent = message;
  $("#error").hidden = false;
}

/** Nothing asked yet: a first-run hint when the library is empty, else a few clickable examples. */
export function showWelcome() {
  clearResults();
  const status = state.status;
  if (status && !status.files && !status.index?.running) {
    const form = make("form", { className: "index-form" },
      make("input", { name: "path", placeholder: "/home/me/Pictures", required: true, ariaLabel: "Folder to index" }),
      make("button", { className: "btn btn-primary", textContent: "Index folder" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      startIndex([form.elements.path.value.trim()]);
    });
    showEmpty("Your library is empty", ["Add a folder of photos and videos here, or run ",
      make("code", { textContent: "framefind index ~/Pictures" }), ". Searching works as soon as indexing is done."], form);
    return;
  }
  const examples = make("div", { className: "suggestions" },
    ...["a cup of coffee", "a cat", "a rocket launch", "sunset over the sea", "people on bikes"].map((words) =>
      make("button", { type: "button", className: "btn", textContent: words, onclick: () => setText(words, true) })));
  showEmpty("Search your photos and videos", "Describe what you are looking for, or drop or paste an image or a " +
    "video anywhere on this page to find similar ones.", examples);
}

// ---------------------------------------------------------------------------------------------
// Feedback (thumbs up / down)
// ---------------------------------------------------------------------------------------------

const feedbackKey = (query, key) => `${query}\u0000${key}`;

export function paintVotes(root, key) {
  const stored = state.feedback.get(feedbackKey(queryLabel(), key));
  for (const button of $$(".vote", root)) {
    button.setAttribute("aria-pressed", String(button.dataset.vote === stored));
    button.disabled = !queryLabel(); // a vote needs a query to belong to
  }
}

export async function vote(key, value) {
  const query = queryLabel();
  if (!query) return;
  try {
    const row = await api("/api/feedback", { method: "POST", json: { query, key, vote: value } });
    state.feedback.set(feedbackKey(row.query, row.key), row.vote);
    for (const card of $$(".card")) if (card.dataset.key === key) paintVotes(card, key);
    if (viewer.item?.key === key) paintVotes($("#viewer"), key);
    toast(value === "up" ? "Marked as a good result" : "Marked as a bad result");
  } catch (err) {
    toast(err.message, true);
  }
}

export async function loadFeedback() {
  try {
    const data = await api("/api/feedback");
    for (const row of data.feedback || []) state.feedback.set(feedbackKey(row.query, row.key), row.vote);
    for (const card of $$(".card")) paintVotes(card, card.dataset.key);
  } catch { /* feedback is optional: the search still works without it */ }
}

function onCardClick(event) {
  const card = event.target.closest(".card");
  if (!card) return;
  const result = state.results[Number(card.dataset.index)];
  const button = event.target.closest("button");
  if (button?.classList.contains("vote")) vote(result.key, button.dataset.vote);
  else if (button?.classList.contains("similar")) moreLike(result);
  else if (!button) openViewer(state.results, Number(card.dataset.index));
}

function onCardKey(event) {
  const card = event.target.closest(".card");
  if (!card || event.target !== card) return; // Enter on a button inside is that button's
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    openViewer(state.results, Number(card.dataset.index));
  }
}

/** The grid, its filters and "Show more". */
export function wireGrid() {
  for (const button of $$(".seg")) {
    on(button, "click", () => {
      state.kind = button.dataset.kind;
      for (const other of $$(".seg")) other.setAttribute("aria-pressed", String(other === button));
      if (state.mode) searchNow();
    });
  }
  on("#under", "change", (event) => { state.under = event.target.value; if (state.mode) searchNow(); });
  on("#reindex", "click", () => startIndex());
  on("#more", "click", () => { state.k += PAGE; searchNow(); });

  on("#grid", "click", onCardClick);
  on("#grid", "keydown", onCardKey);
  on("#grid", "error", (event) => { // a missing thumbnail: keep the empty box, not a broken-image icon
    if (event.target.tagName === "IMG") event.target.style.visibility = "hidden";
  }, true);
}
