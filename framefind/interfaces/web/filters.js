// Filters beyond kind and folder: when and where a picture was taken, who is in it, how long a video is,
// the classifier's labels (only items with a label, or items with it first) and the lowest score shown (the
// score is the estimated probability of a match, the same number the cards show). They live in
// state.filters, travel in the address bar with the words, and go with every search as query (or form)
// fields. A place or a person needs no words: with the search box empty, the page lists everything taken
// there, or every photo of them.

import { $, $$, api, formatCount, make, on, state } from "./api.js";
import { ONLY, paintSignals } from "./signals.js";
import { loadPeople, namedPeople, onPeople, peopleKnown } from "./people.js";

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
const WEIGHT = "(visual|speech|text|metadata|face)=\\d+(\\.\\d+)?";
const WEIGHTS = new RegExp(`^${WEIGHT}(,${WEIGHT})*$`); // visual=1,speech=2,metadata=1
const HAS_LETTER = /[\p{L}\p{N}]/u; // what the server takes as a place name

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
  for (const name of f.place) params.append("place", name);
  for (const name of f.person) params.append("person", name);
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
  for (const name of ["kind", "under", "label", "boost_label", "place", "person", "all", "read_dates", "read_places",
    "read_people", "only", "weights", ...FIELDS.map((f) => f[2])]) {
    params.delete(name);
  }
  if (state.mode !== "text" && !namesOnly()) return;
  addFilters(params);
  if (!state.readDates) params.set("read_dates", "false");
  if (!state.readPlaces) params.set("read_places", "false");
  if (!state.readPeople) params.set("read_people", "false");
}

/** Nothing typed or dropped, a place or a person chosen: the page lists everything taken there, or of them. */
export const namesOnly = () => !state.mode && (state.filters.place.length > 0 || state.filters.person.length > 0);

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
  state.readPlaces = params.get("read_places") !== "false";
  state.readPeople = params.get("read_people") !== "false";
  const names = (field) => [...new Set(params.getAll(field).map((name) => name.trim())
    .filter((name) => HAS_LETTER.test(name)))];
  state.filters.place = names("place");
  state.filters.person = names("person");
  state.only = ONLY.includes(params.get("only")) ? params.get("only") : "";
  state.weights = WEIGHTS.test(params.get("weights") || "") ? params.get("weights") : "";
  for (const seg of $$(".seg[data-kind]")) seg.setAttribute("aria-pressed", String(seg.dataset.kind === state.kind));
  paintSignals();
  paintFilters();
  if (activeCount()) showPanel(true);
  if (state.filters.place.length) loadPlaces(); // the chosen place's name in the list, as the list names it
}

/** Show a person's photos: the Person filter holds just them (the panel opens to show it); app.js then
 *  searches with no words. */
export function choosePerson(name) {
  state.filters.person = [name];
  paintFilters();
  showPanel(true);
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
  return Boolean(f.after || f.before || f.minDuration || f.maxDuration || f.label || f.minScore || f.place.length ||
    f.person.length);
}

function activeCount() {
  const f = state.filters;
  return [f.after || f.before, f.place.length, f.person.length,
    state.kind !== "image" && (f.minDuration || f.maxDuration), f.label, f.minScore].filter(Boolean).length;
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
  paintPlaces();
  paintPeople();
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
  f.place = $("#f-place").value ? $("#f-place").value.split(SEP) : [];
  f.person = $("#f-person").value ? [$("#f-person").value] : [];
  paintFilters();
  if (JSON.stringify(f) !== before) filtersChanged();
}

/** Kind, folder or one of these filters changed: the same question, narrowed, asked again. ("Show all"
 *  stays on: who asked to see weak matches too and then narrows them down still wants to see them.) */
export function filtersChanged() {
  paintFilters();
  if (state.mode || namesOnly() || state.answer) runSearch(); // (a place or person alone, or one just cleared)
}

function clearFilters() {
  Object.assign(state.filters, { after: "", before: "", minDuration: "", maxDuration: "", minScore: "", label: "",
    place: [], person: [] });
  paintFilters();
  filtersChanged();
  $("#f-after").focus();
}

function showPanel(open) {
  $("#filters").hidden = !open;
  $("#filters-toggle").setAttribute("aria-expanded", String(open));
  if (open) {
    loadLabels();
    loadPlaces();
    loadPeople();
  }
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

// ---------------------------------------------------------------------------------------------
// Places: where the library's photos and videos were taken (their GPS), most first
// ---------------------------------------------------------------------------------------------

const SEP = "|"; // between the names of one choice in its <option> value: "Valencia|Spain"
let places = []; // /api/places: [{city, region, country, count}]
let placesKnown = false; // the list has been asked for and arrived (an empty one: no GPS in the library)
let placesLoaded = null; // the request's promise: asked once, again after an index run

export function forgetPlaces() { placesLoaded = null; }

export function loadPlaces() {
  if (placesLoaded) return placesLoaded;
  placesLoaded = api("/api/places").then((data) => {
    places = data.places || [];
    placesKnown = true;
    paintPlaces();
  }).catch(() => { placesLoaded = null; }); // a place typed into the words still works
  return placesLoaded;
}

/** Each country once (everything taken there), then its cities, most first. A city name that two places
 *  share is told apart by its region (same country) or its country: [{country, count, cities: [{names,
 *  text, count}]}]. */
function placeChoices() {
  const same = (a, b) => a.toLowerCase() === b.toLowerCase();
  const countries = new Map();
  for (const place of places) {
    const entry = countries.get(place.country) || { country: place.country, count: 0, cities: [] };
    countries.set(place.country, entry);
    entry.count += place.count;
    if (!place.city || same(place.city, place.country)) continue; // the country's own choice says it
    const twins = places.filter((other) => other !== place && same(other.city, place.city));
    const tell = !twins.length ? "" : twins.some((other) => other.country === place.country) ? place.region
      : place.country;
    entry.cities.push({ names: tell ? [place.city, tell] : [place.city], count: place.count,
      text: tell ? `${place.city} (${tell})` : place.city });
  }
  return [...countries.values()].filter((c) => c.country).sort((a, b) => b.count - a.count);
}

/** The Place select from the list and state.filters.place (a place from the address that the list lacks
 *  is shown as it was asked); rebuilt only when either changed, so an open list is never pulled away. */
function paintPlaces() {
  const select = $("#f-place");
  const chosen = state.filters.place.join(SEP);
  const painted = JSON.stringify([places, chosen, placesKnown]);
  if (select.dataset.painted === painted) return;
  select.dataset.painted = painted;
  const option = (value, text) => new Option(text, value);
  const groups = placeChoices().map(({ country, count, cities }) => make("optgroup", { label: country },
    option(country, `All of ${country} (${count})`),
    ...cities.map((city) => option(city.names.join(SEP), `${city.text} (${city.count})`))));
  const none = placesKnown && !places.length;
  const listed = groups.flatMap((group) => [...group.children]).find((o) => o.value.toLowerCase() === chosen.toLowerCase());
  const asked = chosen && !listed ? [option(chosen, state.filters.place.join(", "))] : [];
  select.replaceChildren(option("", none ? "No places known" : "Anywhere"), ...asked, ...groups);
  select.value = listed ? listed.value : chosen;
  select.disabled = none && !chosen;
  $("#f-place-group").title = none && !chosen ? "None of these photos and videos has a GPS position"
    : "Where it was taken (its GPS position), or a place its own words name";
}

/** A place name as the library writes it, for a name the server read in lower case ("lisbon"): as typed
 *  when typed with capitals (``said``), else as the list of places has it, else capitalised. */
export function placeName(name, said = "") {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const typed = new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, "iu").exec(said)?.[0];
  if (typed && typed !== typed.toLowerCase()) return typed;
  const known = places.flatMap((p) => [p.city, p.region, p.country]).find((n) => n && n.toLowerCase() === name);
  return known || name.replace(/(^|[\s-])(\p{L})/gu, (_, before, letter) => before + letter.toUpperCase());
}

// ---------------------------------------------------------------------------------------------
// People: the named ones (people.js); an unnamed person cannot be searched for by name
// ---------------------------------------------------------------------------------------------

/** The Person select from the named people and state.filters.person (a name from the address that the list
 *  lacks is shown as it was asked); rebuilt only when either changed, so an open list is never pulled away. */
function paintPeople() {
  const select = $("#f-person");
  const named = namedPeople().map((p) => [p.name, p.paths.length]);
  const chosen = state.filters.person.join(", ");
  const none = peopleKnown() && !named.length;
  const painted = JSON.stringify([named, chosen, none]);
  if (select.dataset.painted === painted) return;
  select.dataset.painted = painted;
  const listed = named.find(([name]) => name.toLowerCase() === chosen.toLowerCase());
  const asked = chosen && !listed ? [new Option(chosen, chosen)] : [];
  select.replaceChildren(new Option(none ? "No one named yet" : "Anyone", ""), ...asked,
    ...named.map(([name, files]) => new Option(`${name} (${files})`, name)));
  select.value = listed ? listed[0] : chosen;
  select.disabled = none && !chosen;
  $("#f-person-group").title = none && !chosen
    ? "Name the people found in your photos (the People tab) to filter by them" : "Only photos and video moments that show this person";
}

export function wireFilters(callbacks) {
  runSearch = callbacks.runSearch;
  onPeople(paintPeople);
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
