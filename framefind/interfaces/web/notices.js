// What a search says about itself, shown around the results: a date, place or person filter read from the
// typed words (a chip that can be removed, the words then searched as words), "nothing matched well" with
// why (how close each signal searched came, and the score a match needs) and a way to see the closest
// anyway, how many weaker results were left out and under what score, and how many votes moved the ranking. Scores are the search's one relevance
// score (0-1, the estimated probability of a match), shown with 3 decimals as the CLI prints them. The
// cutoff applies to the score fused over every signal, so its counts hold whichever signals are searched.

import { $, $$, formatCount, icon, make, state } from "./api.js";
import { scoreText } from "./cards.js";
import { placeName } from "./filters.js";
import { onPeople, personName } from "./people.js";

// The response's signal names (closest), as a person says them.
const SIGNAL_NAMES = { visual: "pictures", speech: "speech", text: "on-screen text", metadata: "file words" };

// Searching again is search.js's, which imports this module: app.js passes it in (wireNotices).
let runSearch = null;

export function wireNotices(callbacks) {
  runSearch = callbacks.runSearch;
  onPeople(() => { // a name just given (or forgotten) changes how a name read from the words is told
    if (state.answer && state.mode === "text") renderNotices(state.answer);
  });
}

const linkButton = (text, onclick, label) =>
  make("button", { type: "button", className: "link", textContent: text, onclick, ...(label ? { ariaLabel: label } : {}) });

/** Ask the same question again with one setting changed. */
function again(changes) {
  Object.assign(state, changes);
  return runSearch();
}

/** "2019-01-01 to 2019-12-31 (from '2019')" -> ["2019-01-01 to 2019-12-31", "2019"]. */
function splitDates(text) {
  const match = /^(.*?)\s*\(from '(.*)'\)$/.exec(text);
  return match ? [match[1], match[2]] : [text, ""];
}

/** "lisbon, portugal ('in Lisbon Portugal')" -> [["lisbon", "portugal"], "in Lisbon Portugal"]. */
function splitPlaces(text) {
  const match = /^(.*?)\s*\('(.*)'\)$/.exec(text);
  return [(match ? match[1] : text).split(/,\s*/).filter(Boolean), match ? match[2] : ""];
}

/** The line above the grid: the date, person and place chips, and the toggles that undo "show all",
 *  "ignore dates", "ignore people" or "ignore places". */
export function renderNotices(data) {
  const box = $("#notices");
  const parts = [...dateNotices(data), ...nameNotices(data)];
  if (state.all && !data.nothing_matched && (data.results || []).length) {
    parts.push(make("span", { className: "quiet", id: "all-note" }, "Showing every result, weak matches too · ",
      linkButton("Hide weak matches", () => again({ all: false }).then(() => ($(".card") || $("#show-closest"))?.focus()))));
  }
  box.replaceChildren(...parts);
  box.hidden = !parts.length;
  renderCutoffLine(data);
}

/** A date read from the words: its chip (and how to keep the words), or the way back to reading dates. */
function dateNotices(data) {
  const parts = [];
  if (data.dates && state.mode === "text") {
    const [span, words] = splitDates(data.dates);
    const said = words ? ` (from “${words}”)` : "";
    parts.push(make("span", { className: "chip date-chip", id: "date-chip" }, icon("calendar"),
      make("span", { className: "chip-label", textContent: `Taken ${span}${said}` }),
      make("button", { type: "button", className: "chip-x", id: "date-chip-remove",
        ariaLabel: `Don't filter by date${words ? `: search “${words}” as words` : ""}`,
        title: "Search without this date", onclick: removeDates }, icon("close"))));
    if (words) {
      parts.push(make("span", { className: "quiet", id: "date-hint" },
        "Read from your words. To search them as words, put them in quotes: ",
        make("code", { textContent: `"${words}"` })));
    }
  } else if (!state.readDates && state.mode === "text") {
    parts.push(make("span", { className: "quiet" }, "Dates in your words are searched as words · ",
      linkButton("Filter by date again", () => again({ readDates: true }))));
  }
  return parts;
}

function removeDates() {
  again({ readDates: false, all: false }).then(() => $("#q").focus());
}

/** The names the server read from the words: ``people`` ("barack ('with Barack')") and ``places``
 *  ("lisbon ('in Lisbon')"), each [names, said] or null. */
function namesRead(data) {
  const one = (text) => (text ? splitPlaces(text) : null);
  return { person: one(data.people), place: one(data.places) };
}

/** A chip: its icon, its label, and the ✕ that undoes it. */
function nameChip(id, name, text, undo, what, onclick) {
  return make("span", { className: "chip date-chip place-chip", id: `${id}-chip` }, icon(name),
    make("span", { className: "chip-label", textContent: text }),
    make("button", { type: "button", className: "chip-x", id: `${id}-chip-remove`, ariaLabel: undo,
      title: `Search without this ${what}`, onclick }, icon("close")));
}

/** "(from “photos of Barack”)" when the words said more than the names (beyond the little words). */
function fromWords(names, said, little) {
  const bare = said.split(/\s+/).filter((w) => !little.test(w)).join(" ");
  return said && bare.toLowerCase() !== names.join(" ") ? ` (from “${said}”)` : "";
}

/** People and places read from the words ("Barack in Lisbon"): "Showing Barack" and "Taken in Lisbon" as
 *  chips that can be removed, and a link that searches the words as words instead (both, when both were
 *  read); or, once removed, the way back. */
function nameNotices(data) {
  if (state.mode !== "text") return [];
  const { person, place } = namesRead(data);
  const parts = [];
  if (person) {
    const [names, said] = person;
    const words = said ? `“${said}”` : "the names";
    parts.push(nameChip("person", "person", `Showing ${names.map(personName).join(" and ")}` +
      fromWords(names, said, /^(with|of|and|by)$/i), `Don't filter by person: search ${words} as words`, "person",
    removePeople));
  }
  if (place) {
    const [names, said] = place;
    const words = said ? `“${said}”` : "the place names";
    parts.push(nameChip("place", "pin", `Taken in ${names.map((name) => placeName(name, said)).join(", ")}` +
      fromWords(names, said, /^(in|at|near|around|from)$/i), `Don't filter by place: search ${words} as words`,
    "place", removePlaces));
  }
  if (person || place) {
    const said = [person?.[1], place?.[1]].filter(Boolean).join(" ");
    const words = said ? `“${said}”` : person ? "the names" : "the place names";
    const undo = person && place ? () => again({ readPeople: false, readPlaces: false, all: false }).then(focusWords)
      : person ? removePeople : removePlaces;
    parts.push(make("span", { className: "quiet", id: person && place ? "names-hint" : person ? "person-hint"
      : "place-hint" }, "Read from your words · ", linkButton(`Search ${words} as words`, undo)));
  }
  if (!person && !state.readPeople) {
    parts.push(make("span", { className: "quiet", id: "person-note" }, "Names of people in your words are searched " +
      "as words · ", linkButton("Filter by person again", () => again({ readPeople: true }))));
  }
  if (!place && !state.readPlaces) {
    parts.push(make("span", { className: "quiet", id: "place-note" }, "Place names in your words are searched as " +
      "words · ", linkButton("Filter by place again", () => again({ readPlaces: true }))));
  }
  return parts;
}

const focusWords = () => $("#q").focus();

function removePeople() {
  again({ readPeople: false, all: false }).then(focusWords);
}

function removePlaces() {
  again({ readPlaces: false, all: false }).then(focusWords);
}

/** Under the grid: "N weaker results hidden (scored under 0.010) · Show all". */
function renderCutoffLine(data) {
  const line = $("#cutoff-line");
  const hidden = data.below_cutoff || 0;
  const show = hidden > 0 && !state.all && (data.results || []).length > 0;
  line.hidden = !show;
  if (!show) return line.replaceChildren();
  const under = data.cutoff != null ? ` (scored under ${scoreText(data.cutoff)})` : "";
  line.replaceChildren(`${formatCount(hidden, "weaker result")} hidden${under} · `,
    linkButton("Show all", () => {
      const first = state.results.length; // keyboard users land on the first result they had not seen
      again({ all: true }).then(() => $$(".card")[first]?.focus());
    }, `Show all, including ${formatCount(hidden, "weaker result")}`));
}

/** The summary's small note on learning: "Ranking adjusted by 3 votes". */
export function learnedNote(data) {
  const n = data.learned || 0;
  if (!n) return null;
  return make("span", { className: "learned", title: "Thumbs up / down on this and similar searches" },
    icon("up"), `Ranking adjusted by ${formatCount(n, "vote")}`);
}

/** The empty / welcome box: a title, a text (string or nodes) and optional extra content. */
export function showEmpty(title, text, extra) {
  const box = $("#empty");
  box.replaceChildren(icon("search", "icon big"), make("h2", { textContent: title }), make("p", {}, ...[].concat(text)));
  if (extra) box.append(extra);
  box.hidden = false;
}

/** Text that wraps as one word (a signal and its number). */
const unbroken = (text) => make("span", { className: "nowrap", textContent: text });

/** Why nothing matched, from the response: "The closest came to 0.012 (pictures 0.012 · speech 0.000 ·
 *  on-screen text 0.000); a match needs 0.025." (``closest``: each signal searched -> its best relevance;
 *  the CLI says the same in the same numbers.) Each signal with its number stays on one line. */
function whyNothing(data) {
  const came = Object.entries(data.closest || {});
  const best = Math.max(0, ...came.map(([, p]) => p));
  // The separator ends its item ("pictures 0.000 ·"): a line may break after it, never start with it.
  const each = came.flatMap(([signal, p], i) =>
    [i ? " " : "", unbroken(`${SIGNAL_NAMES[signal] ?? signal} ${scoreText(p)}${i < came.length - 1 ? " ·" : ""}`)]);
  return make("span", { id: "why-nothing" }, `The closest came to ${scoreText(best)}`,
    ...(came.length ? [" (", ...each, ")"] : []),
    ...(data.cutoff != null ? ["; a match needs ", unbroken(scoreText(data.cutoff))] : []), ".");
}

/** No result reached the relevance cutoff: say so and why, and offer the closest anyway. True if shown. */
export function showNothingMatched(data) {
  const weaker = data.below_cutoff || 0;
  if (!data.nothing_matched || !weaker) return false;
  const button = make("button", { type: "button", className: "btn btn-primary", id: "show-closest",
    textContent: "Show closest anyway", onclick: () => again({ all: true }).then(() => $(".card")?.focus()) });
  showEmpty("Nothing matched well",
    [whyNothing(data), make("br"), "Try other words, or look at the closest ones anyway."],
    make("div", { className: "suggestions" }, button));
  return true;
}
