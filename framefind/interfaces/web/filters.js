// Filters beyond kind and folder: when a picture was taken, how long a video is, the classifier's
// labels (only items with a label, or items with it first) and the lowest score shown (the score is the
// estimated probability of a match, the same number the cards show). They live in state.filters, travel
// in the address bar with the words, and go with every search as query (or form) fields.

import { $, $$, api, formatCount, make, on, state } from "./api.js";
import { ONLY, paintSignals } from "./signals.js";

// Searching is search.js's, which imports this module: app.js passes it in (wireFilters).
let runSearch = null;

const FIELDS = [ // state.filters field, its <input>, its API and address-bar name
  ["after", "#f-after", "after"],
  ["before", "#f-before", "before"],
  ["minDuration", "#f-min-duration", "min_duration"],
  ["maxDuration", "#f-max-duration", "max_duration"],
  ["minScore", "#f-min-score", "min_score"],
];
const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/; // what the server takes: 2019, 2019-07, 2019-07-14
const WEIGHTS = /^(visual|speech|text)=\d+(\.\d+)?(,(visual|speech|text)=\d+(\.\d+)?)*$/; // visual=1,speech=2

/** The filters of the current state, added to a URLSearchParams or a FormData. */
export function addFilters(params) {
  if (state.kind) params.append("kind", state.kind);
  if (state.under) params.append("under", state.under);
  const f = state.filters;
  for (const [field, , name] of FIELDS) {
    if (f[field] === "" || (state.kind === "image" && name.endsWith("duration"))) continue; // photos have no length
    params.append(name, f[field]);
  }
  if (f.label) params.append(f.labelMode === "prefer" ? "boost_label" : "label", f.label);
  if (state.all) params.append("all", "true");
  if (state.mode === "text") { // what is said and written: only words can be heard or read (signals.js)
    if (state.only) params.append("only", state.only);
    if (state.weights) params.append("weights", state.weights);
  }
}

/** What an example-video search takes of the filters: the lowest score (kind and folder are applied to
 *  its answer in search.js; it has no dates, lengths or labels). */
export function addVideoFilters(form) {
  if (state.filters.minScore !== "") form.append("min_score", state.filters.minScore);
}

/** The address bar keeps the filters (and kind and folder), so a reload or a shared link asks the same. */
export function writeFiltersToUrl(params) {
  for (const name of ["kind", "under", "label", "boost_label", "all", "read_dates", "only", "weights",
    ...FIELDS.map((f) => f[2])]) {
    params.delete(name);
  }
  if (state.mode !== "text") return;
  addFilters(params);
  if (!state.readDates) params.set("read_dates", "false");
}

/** Read the filters from the address bar (on start), before anything rewrites it. */
export function readFiltersFromUrl() {
  const params = new URL(location.href).searchParams;
  state.kind = ["image", "video"].includes(params.get("kind")) ? params.get("kind") : "";
  state.under = params.get("under") || "";
  for (const [field, , name] of FIELDS) state.filters[field] = clean(field, params.get(name) || "");
  if ($("#f-after").type === "month") { // month inputs show months: a year becomes its first or last month
    const f = state.filters;
    f.after = /^\d{4}$/.test(f.after) ? `${f.after}-01` : f.after.slice(0, 7);
    f.before = /^\d{4}$/.test(f.before) ? `${f.before}-12` : f.before.slice(0, 7);
  }
  const boost = params.get("boost_label");
  state.filters.label = params.get("label") || boost || "";
  state.filters.labelMode = !params.get("label") && boost ? "prefer" : "only";
  state.all = params.get("all") === "true";
  state.readDates = params.get("read_dates") !== "false";
  state.only = ONLY.includes(params.get("only")) ? params.get("only") : "";
  state.weights = WEIGHTS.test(params.get("weights") || "") ? params.get("weights") : "";
  for (const seg of $$(".seg[data-kind]")) seg.setAttribute("aria-pressed", String(seg.dataset.kind === state.kind));
  paintSignals();
  paintFilters();
  if (activeCount()) showPanel(true);
}

/** A value as the server takes it: a date as 2019 / 2019-07 / 2019-07-14, a length as seconds >= 0,
 *  a score from 0 to 1. */
function clean(field, value) {
  const text = String(value).trim();
  if (!text) return "";
  if (field === "after" || field === "before") return DATE.test(text) ? text : "";
  const number = Number(text);
  const most = field === "minScore" ? 1 : Infinity;
  return Number.isFinite(number) && number >= 0 && number <= most ? String(number) : "";
}

/** Whether any filter of the panel holds a value (what "Clear filters" would empty). */
export function anyFilter() {
  const f = state.filters;
  return Boolean(f.after || f.before || f.minDuration || f.maxDuration || f.label || f.minScore);
}

function activeCount() {
  const f = state.filters;
  return [f.after || f.before, state.kind !== "image" && (f.minDuration || f.maxDuration), f.label, f.minScore]
    .filter(Boolean).length;
}

/** Inputs, the count on the Filters button and the Clear button, from state.filters. */
function paintFilters() {
  const f = state.filters;
  for (const [field, selector] of FIELDS) {
    const input = $(selector);
    if (input.value !== f[field]) input.value = f[field];
  }
  $("#f-label").value = f.label;
  $("#f-label-mode").value = f.labelMode;
  $("#f-before").min = f.after.slice(0, 7); // a month input's bounds are months
  $("#f-after").max = f.before.slice(0, 7);
  const photosOnly = state.kind === "image";
  for (const input of $$("#f-length input")) input.disabled = photosOnly;
  $("#f-length").title = photosOnly ? "Only videos have a length: choose All or Videos" : "";
  const n = activeCount();
  const count = $("#filters-count");
  count.hidden = !n;
  count.textContent = n ? String(n) : "";
  $("#filters-toggle").setAttribute("aria-label", n ? `Filters, ${n} on` : "Filters");
  $("#filters-clear").disabled = !anyFilter();
}

/** Inputs to state.filters; search again when something changed. */
function applyInputs() {
  const f = state.filters;
  const before = JSON.stringify(f);
  for (const [field, selector] of FIELDS) f[field] = clean(field, $(selector).value);
  f.label = $("#f-label").value.trim();
  f.labelMode = $("#f-label-mode").value;
  paintFilters();
  if (JSON.stringify(f) !== before) filtersChanged();
}

/** Kind, folder or one of these filters changed: the same question, narrowed, asked again. ("Show all"
 *  stays on: who asked to see weak matches too and then narrows them down still wants to see them.) */
export function filtersChanged() {
  paintFilters();
  if (state.mode) runSearch();
}

function clearFilters() {
  Object.assign(state.filters, { after: "", before: "", minDuration: "", maxDuration: "", minScore: "", label: "" });
  paintFilters();
  filtersChanged();
  $("#f-after").focus();
}

function showPanel(open) {
  $("#filters").hidden = !open;
  $("#filters-toggle").setAttribute("aria-expanded", String(open));
  if (open) loadLabels();
}

// ---------------------------------------------------------------------------------------------
// Label suggestions: the labels present in this library, most frequent first
// ---------------------------------------------------------------------------------------------

let labelsLoaded = null; // the request's promise: asked once, again after an index run

export function forgetLabels() { labelsLoaded = null; }

export function loadLabels() {
  if (labelsLoaded) return labelsLoaded;
  labelsLoaded = api("/api/labels").then((data) => {
    $("#label-list").replaceChildren(...(data.labels || []).map(({ label, count }) =>
      make("option", { value: label, label: formatCount(count, "item") })));
  }).catch(() => { labelsLoaded = null; }); // suggestions are a convenience: typing a label still works
  return labelsLoaded;
}

export function wireFilters(callbacks) {
  runSearch = callbacks.runSearch;
  on("#filters-toggle", "click", () => {
    const open = $("#filters").hidden;
    showPanel(open);
    if (open) $("#f-after").focus();
  });
  on("#filters", "change", applyInputs);
  on("#filters", "submit", (event) => { event.preventDefault(); applyInputs(); }); // Enter in any field
  const label = $("#f-label");
  on(label, "focus", () => loadLabels());
  on(label, "input", (event) => {
    // A suggestion picked from the list, or the field cleared with its ✕: apply at once, not on blur.
    if (!event.inputType || event.inputType === "insertReplacementText" || !label.value) applyInputs();
  });
  on("#filters-clear", "click", clearFilters);
  on("#filters", "keydown", (event) => {
    if (event.key === "Escape" && !event.target.matches("input[list]:not(:placeholder-shown)")) {
      showPanel(false);
      $("#filters-toggle").focus();
    }
  });
}
