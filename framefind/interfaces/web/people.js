// People (issue #20): who is in the pictures, found by `framefind index --faces` and grouped by face on
// this computer. The list (/api/people: named people first, each with their largest face) feeds the People
// view here, the Person filter (filters.js) and the chip that says a name typed into the words was read as
// a person (notices.js). In the view a person is named inline (click the name, Enter saves), two people are
// merged (tick both, Merge) and one is forgotten (their face data removed, their photos stay); clicking a
// named person lists their photos (a person filter and no words). A person has no name until given one, and
// the search API filters by name: an unnamed person is named first.

import { $, api, formatCount, hideToast, icon, make, on, state, toast } from "./api.js";

let people = []; // /api/people: [{id, name, faces, paths, face_url}], named first
let unsorted = 0; // faces seen once: they join a person when seen again
let known = false; // the list has arrived (an empty one: nobody found yet)
let failed = ""; // why the list could not be loaded
let loaded = null; // the request's promise: asked once, again after a change or an index run
const listeners = []; // called whenever the list changes (the Person filter, the chips)
const picked = new Set(); // ids ticked for merging
let editing = null; // the id whose name is being typed
let rebuilding = false; // the grid is being rebuilt: a name field leaving with it is no user leaving it

// Showing a person's photos is app.js's (words, filters and the view change together): wirePeople.
let showPerson = null;

export const namedPeople = () => people.filter((person) => person.name);
export const peopleKnown = () => known;

/** Call ``listener`` whenever the list of people changes. */
export function onPeople(listener) {
  listeners.push(listener);
}

export function forgetPeople() {
  loaded = null;
}

export function loadPeople() {
  if (loaded) return loaded;
  loaded = api("/api/people").then(setPeople).catch((err) => {
    loaded = null;
    failed = err.message;
    renderPeople();
  });
  return loaded;
}

function setPeople(data) {
  people = data.people || [];
  unsorted = data.unsorted || 0;
  known = true;
  failed = "";
  for (const id of [...picked]) if (!people.some((p) => p.id === id)) picked.delete(id);
  renderPeople();
  for (const listener of listeners) listener();
}

/** Whether a name (any case) is one of the library's named people. */
export const isPerson = (name) => people.some((p) => p.name && p.name.toLowerCase() === name.toLowerCase());

/** A person's name as the user wrote it, for a name the server read in lower case ("barack"). */
export function personName(name) {
  const person = people.find((p) => p.name && p.name.toLowerCase() === name.toLowerCase());
  if (person) return person.name;
  return name.replace(/(^|[\s-])(\p{L})/gu, (_, before, letter) => before + letter.toUpperCase());
}

const label = (person) => person.name || "Unnamed";

/** "2 faces", or "3 faces in 2 files" when a file holds more than one of them (a video, a collage). */
function faceCount(person) {
  const files = person.paths.length;
  return files && files !== person.faces ? `${formatCount(person.faces, "face")} in ${formatCount(files, "file")}`
    : formatCount(person.faces, "face");
}

// ---------------------------------------------------------------------------------------------
// The view
// ---------------------------------------------------------------------------------------------

/** The view from the list: the grid, the note, what to do when nobody is known, the merge bar. A name being
 *  typed survives (the list can arrive again while it is: after an index run). */
export function renderPeople() {
  if ($("#people-view").hidden) return;
  const typing = $(".person-name-input");
  const draft = typing && document.activeElement === typing ? typing.value : null;
  rebuilding = true;
  try {
    $("#people-grid").replaceChildren(...people.map(personCard));
  } finally {
    rebuilding = false;
  }
  const input = draft !== null && $(".person-name-input");
  if (input) {
    input.value = draft;
    input.focus();
  }
  paintPeopleState();
}

/** The note, and what to do when nobody is known (the library's status says whether faces are looked for, and
 *  whether they are being looked for now): status.js calls it on every status, the grid stays as it is. */
export function paintPeopleState() {
  if ($("#people-view").hidden) return;
  const passes = state.status?.passes || [];
  const finding = state.status?.index?.running && passes.includes("faces");
  const n = people.length;
  const waiting = passes.includes("faces") ? unsortedNote() : ""; // (no pass, no "when seen again")
  $("#people-note").textContent = [n ? `${n.toLocaleString()} ${n === 1 ? "person" : "people"}` : "", waiting]
    .filter(Boolean).join(" · ");
  const empty = $("#people-empty");
  empty.hidden = !failed && (!known || people.length > 0);
  if (failed) emptyBox(empty, "People could not be loaded", failed);
  else if (!passes.includes("faces")) {
    emptyBox(empty, "Find the people in your photos", ["Run ", make("code", { textContent: "framefind index --faces" }),
      " to find people. Faces are found and grouped on this computer; then name them here, and search by name."]);
  } else if (finding) emptyBox(empty, "Finding faces…", "People appear here once indexing has looked at the photos.");
  else emptyBox(empty, "Nobody found yet", "A person appears here once their face is seen in two photos.");
  paintPicked();
}

function unsortedNote() {
  if (!unsorted) return "";
  return unsorted === 1 ? "1 face seen once: it joins a person when seen again"
    : `${unsorted.toLocaleString()} faces seen once: they join a person when seen again`;
}

function emptyBox(box, title, text) {
  box.replaceChildren(icon("person", "icon big"), make("h2", { textContent: title }),
    make("p", {}, ...[].concat(text)));
}

function personCard(person) {
  const name = label(person);
  const face = make("button", { type: "button", className: "person-face",
    title: person.name ? `Show the photos of ${name}` : "Name them to see their photos" },
  make("img", { src: person.face_url, alt: "", loading: "lazy", decoding: "async" }));
  face.setAttribute("aria-label", person.name ? `Show the photos of ${name}`
    : "Unnamed: name them to see their photos");
  const pick = make("input", { type: "checkbox", className: "person-pick", checked: picked.has(person.id),
    title: "Select to merge" });
  pick.setAttribute("aria-label", `Select ${name}`);
  const forget = make("button", { type: "button", className: "icon-btn person-forget",
    title: "Forget: remove their face data (the photos stay)" }, icon("trash"));
  forget.setAttribute("aria-label", `Forget ${name}`);
  const card = make("article", { className: "person" }, face, pick,
    make("div", { className: "person-meta" }, editing === person.id ? nameInput(person) : nameButton(person),
      make("span", { className: "person-count", textContent: faceCount(person) })), forget);
  card.setAttribute("role", "listitem");
  card.dataset.id = String(person.id);
  card.classList.toggle("picked", picked.has(person.id));
  return card;
}

function nameButton(person) {
  const button = make("button", { type: "button", className: `person-name${person.name ? "" : " unnamed"}`,
    textContent: label(person), title: person.name ? "Rename" : "Add a name" });
  button.setAttribute("aria-label", person.name ? `${person.name}: rename` : "Unnamed: add a name");
  return button;
}

function nameInput(person) {
  const input = make("input", { type: "text", className: "person-name-input", value: person.name || "",
    placeholder: "Name", maxLength: 200, spellcheck: false, enterKeyHint: "done", autocomplete: "off" });
  input.setAttribute("aria-label", person.name ? `New name for ${person.name}` : "Name of this person");
  input.dataset.was = person.name || "";
  return input;
}

function startEditing(id) {
  editing = id;
  renderPeople();
  const input = $(`.person[data-id="${id}"] .person-name-input`);
  input?.focus();
  input?.select();
}

function stopEditing(focusName = true) {
  const id = editing;
  if ($("#toast").classList.contains("err")) hideToast(); // the name's error no longer applies
  editing = null;
  renderPeople();
  if (focusName) $(`.person[data-id="${id}"] .person-name`)?.focus();
}

/** Save the typed name (Enter, or leaving a changed field); the list comes back from the server. */
async function saveName(input) {
  const id = Number(input.closest(".person").dataset.id);
  const name = input.value.trim();
  if (!name || name === input.dataset.was) return stopEditing();
  input.disabled = true; // one request per Enter; a blur after it must not send a second
  try {
    const data = await api(`/api/people/${id}/name`, { method: "POST", json: { name } });
    editing = null;
    setPeople(data); // (a name error still showing is replaced by this toast)
    toast(`Named ${name}`);
    $(`.person[data-id="${id}"] .person-name`)?.focus();
  } catch (err) {
    toast(nameError(err.message), true);
    input.disabled = false;
    input.focus(); // still typing: correct it, or Escape
  }
}

/** The server's "'anna' already names person 3 (merge them: ...)" as the page says it: whose name it is and
 *  what to do here (the CLI's command means nothing in a browser). */
function nameError(message) {
  const taken = /already names person (\d+)/.exec(message);
  const owner = taken && people.find((p) => p.id === Number(taken[1]));
  return owner ? `${owner.name} already has that name. If they are the same person, tick both and Merge.` : message;
}

// ---------------------------------------------------------------------------------------------
// Merge and forget, each after a question
// ---------------------------------------------------------------------------------------------

/** The confirm dialog: resolves to true when the user says yes. ``who``: the people it is about (their faces
 *  show above the question); ``extra``: nodes under the text. */
function ask({ who, title, text, ok, danger = false, extra = [] }) {
  const dialog = $("#confirm");
  $("#confirm-faces").replaceChildren(...who.map((p) => make("img", { src: p.face_url, alt: "" })));
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-extra").replaceChildren(...extra);
  $("#confirm-ok").textContent = ok;
  $("#confirm-ok").classList.toggle("btn-danger", danger);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"),
    { once: true }));
}

function paintPicked() {
  const chosen = people.filter((p) => picked.has(p.id));
  $("#people-merge").disabled = chosen.length !== 2;
  $("#people-merge").classList.toggle("btn-primary", chosen.length === 2);
  $("#people-picked").textContent = !chosen.length ? "Same person twice? Tick both to merge"
    : chosen.length === 1 ? `${label(chosen[0])} selected: tick one more to merge`
      : `${chosen.map(label).join(" and ")} selected`;
  $("#people-unpick").hidden = !chosen.length;
  $(".people-bar").hidden = !people.length;
}

/** Merge the two ticked people: the name kept is the only one they have, or the one chosen in the dialog. */
async function merge() {
  const [a, b] = people.filter((p) => picked.has(p.id));
  if (!a || !b) return;
  const both = a.name && b.name;
  const keeps = both ? [a, b] : [a.name ? a : b.name ? b : a.faces >= b.faces ? a : b];
  const choice = both ? [make("fieldset", { className: "confirm-choice" },
    make("legend", { textContent: "Keep the name" }), ...keeps.map((p, i) => make("label", { className: "check" },
      make("input", { type: "radio", name: "keep", value: String(p.id), checked: i === 0 }),
      make("span", { textContent: p.name }))))] : [];
  const faces = a.faces + b.faces;
  const named = keeps[0].name ? `, named ${keeps[0].name}` : "";
  const title = a.name || b.name ? `Merge ${[a, b].map((p) => p.name || "an unnamed person").join(" and ")}?`
    : "Merge these two people?";
  const yes = await ask({ who: [a, b], title, ok: "Merge", extra: choice,
    text: `If they are the same person: their ${faces} faces become one person${both ? "" : named}.` });
  if (!yes) return;
  const keep = both ? Number($("#confirm-form").elements.keep.value) : keeps[0].id;
  const other = keep === a.id ? b.id : a.id;
  try {
    const data = await api("/api/people/merge", { method: "POST", json: { keep, other } });
    picked.clear();
    setPeople(data);
    toast(`Merged: ${label(people.find((p) => p.id === keep) || a)}, ${faces} faces`);
  } catch (err) {
    toast(err.message, true);
  }
}

async function forget(person) {
  const name = label(person);
  const yes = await ask({ who: [person], title: `Forget ${person.name || "this person"}?`, ok: "Forget", danger: true,
    text: `Their face data (${formatCount(person.faces, "face")}) is removed from the library and not looked for ` +
      `again${person.name ? `, so “${person.name}” no longer finds these photos` : ""}. The photos stay.` });
  if (!yes) return;
  try {
    setPeople(await api(`/api/people/${person.id}`, { method: "DELETE" }));
    toast(`Forgot ${name}: the photos stay`);
  } catch (err) {
    toast(err.message, true);
  }
}

function onGridClick(event) {
  const card = event.target.closest(".person");
  if (!card) return;
  const person = people.find((p) => p.id === Number(card.dataset.id));
  if (!person) return;
  if (event.target.closest(".person-name")) startEditing(person.id);
  else if (event.target.closest(".person-forget")) forget(person);
  else if (event.target.closest(".person-face")) {
    if (person.name) showPerson(person.name);
    else {
      startEditing(person.id);
      toast("Name them first: their photos are found by name");
    }
  }
}

function onGridKey(event) {
  const input = event.target.closest(".person-name-input");
  if (!input) return;
  if (event.key === "Enter") {
    event.preventDefault();
    saveName(input);
  } else if (event.key === "Escape") {
    event.preventDefault();
    stopEditing();
  }
}

/** ``callbacks.showPerson(name)``: list a named person's photos (app.js). */
export function wirePeople(callbacks) {
  showPerson = callbacks.showPerson;
  const grid = $("#people-grid");
  on(grid, "click", onGridClick);
  on(grid, "keydown", onGridKey);
  on(grid, "change", (event) => {
    if (!event.target.matches(".person-pick")) return;
    const id = Number(event.target.closest(".person").dataset.id);
    if (event.target.checked) picked.add(id);
    else picked.delete(id);
    event.target.closest(".person").classList.toggle("picked", event.target.checked);
    paintPicked();
  });
  on(grid, "focusout", (event) => { // leaving a changed name saves it; an unchanged one just closes
    const input = event.target.closest(".person-name-input");
    if (!input || input.disabled || editing === null || rebuilding) return;
    if (input.value.trim() && input.value.trim() !== input.dataset.was) saveName(input);
    else stopEditing(false);
  });
  on(grid, "error", (event) => { // a face whose file is gone: keep the empty square, not a broken image
    if (event.target.tagName === "IMG") event.target.style.visibility = "hidden";
  }, true);
  on("#people-merge", "click", merge);
  on("#people-unpick", "click", () => {
    picked.clear();
    renderPeople();
  });
}
