// What is asked: the query chip, typed words, example files (picked, pasted or dropped), "more like
// this", and the example image panel where a box picks one region to search by.

import { $, baseName, mediaKind, on, PAGE, state, toast } from "./api.js";
import { runSearch, searchNow, searchSoon } from "./search.js";
import { currentView, showView } from "./views.js";

// ---------------------------------------------------------------------------------------------
// Query chip, text, example files, "more like this"
// ---------------------------------------------------------------------------------------------

/** Search for these words; ``extra`` sets more of the state (a reload restores all / readDates / readPlaces /
 *  readPeople). */
export function setText(words, now = false, extra = {}) {
  $("#q").value = words;
  useText(words, extra);
  now ? searchNow() : searchSoon();
}

function useText(words, extra = {}) {
  setQuery({ mode: words.trim() ? "text" : null, text: words, ...extra });
}

/** Switch what is asked (words, an example file, a library item); everything else is reset. A new
 *  question gets the relevance cutoff again; "don't read dates / places / people" lasts while the words are edited. */
function setQuery(changes) {
  if (state.example) URL.revokeObjectURL(state.example.url); // the old example's preview
  const editing = state.mode === "text" && changes.mode === "text";
  const [readDates, readPlaces, readPeople] = editing ? [state.readDates, state.readPlaces, state.readPeople]
    : [true, true, true];
  Object.assign(state, { text: "", example: null, similar: null, k: PAGE, all: false, readDates, readPlaces,
    readPeople }, changes);
  if (state.mode !== "text") $("#q").value = "";
  renderChip();
  renderExample();
}

function renderChip() {
  const chip = $("#query-chip");
  const source = state.example || state.similar;
  chip.hidden = !source;
  if (!source) return;
  const img = $("#query-chip-img");
  const thumb = state.similar ? state.similar.thumbnail_url : state.example.kind === "image" ? state.example.url : "";
  img.hidden = !thumb;
  if (thumb) img.src = thumb;
  $("#query-chip-icon").toggleAttribute("hidden", Boolean(thumb)); // an SVG element has no .hidden property
  $("#query-chip-label").textContent = state.similar ? `Like ${state.similar.name}` : source.name;
  chip.title = $("#query-chip-label").textContent;
  $("#q").placeholder = "or type words";
}

function clearQuery() {
  $("#q").value = "";
  $("#q").placeholder = "Search photos and videos";
  useText("");
  runSearch();
  $("#q").focus();
}

function searchByFile(file) {
  const kind = mediaKind(file);
  if (!kind) {
    toast(`${file.name || "That file"}: not an image or a video`, true);
    return;
  }
  const name = file.name || `pasted.${(file.type.split("/")[1] || "png")}`;
  setQuery({ mode: kind, example: { file, name, kind, url: URL.createObjectURL(file), box: null } });
  showView("results");
  searchNow();
}

export function moreLike(result) {
  const name = result.name || baseName(result.path);
  setQuery({ mode: "similar", similar: { key: result.key, name, thumbnail_url: result.thumbnail_url } });
  showView("results");
  searchNow();
  window.scrollTo({ top: 0 });
}

// ---------------------------------------------------------------------------------------------
// Example image panel: draw a box to search by one region
// ---------------------------------------------------------------------------------------------

const boxDrag = { from: null };

function renderExample() {
  const panel = $("#example");
  const example = state.mode === "image" ? state.example : null;
  panel.hidden = !example;
  if (!example) return;
  const img = $("#example-img");
  $("#example-name").textContent = example.name;
  $("#example-hint").textContent = "Drag on the picture to search for just one part of it.";
  img.onerror = () => { $("#example-hint").textContent = "No preview for this file, but it can still be searched."; };
  img.onload = () => sizeBoxCanvas();
  img.src = example.url;
  updateBoxButtons();
}

export function sizeBoxCanvas() {
  const canvas = $("#example-canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  drawBox();
}

function drawBox() {
  const canvas = $("#example-canvas");
  const ctx = canvas.getContext("2d");
  const box = state.example?.box;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!box) return;
  const [x, y, w, h] = [box[0] * canvas.width, box[1] * canvas.height, box[2] * canvas.width, box[3] * canvas.height];
  ctx.fillStyle = "rgb(0 0 0 / 50%)"; // dim what will be left out
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.clearRect(x, y, w, h);
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
  ctx.setLineDash([8, 5]);
  ctx.strokeRect(x, y, w, h);
}

/** Pointer position as fractions 0..1 of the image (mouse, pen and touch alike). */
function boxPoint(event) {
  const rect = $("#example-canvas").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
}

function onBoxPointer(event) {
  if (!state.example) return;
  const canvas = event.currentTarget;
  if (event.type === "pointerdown") {
    canvas.setPointerCapture(event.pointerId);
    boxDrag.from = boxPoint(event);
    return;
  }
  if (!boxDrag.from) return;
  const [x0, y0] = boxDrag.from, [x1, y1] = boxPoint(event);
  state.example.box = [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
  if (event.type === "pointerup" || event.type === "pointercancel") {
    boxDrag.from = null;
    if (state.example.box[2] < 0.03 || state.example.box[3] < 0.03) state.example.box = null; // a click, not a box
  }
  drawBox();
  updateBoxButtons();
}

function updateBoxButtons() {
  const hasBox = Boolean(state.example?.box);
  $("#region-search").disabled = !hasBox;
  $("#region-clear").hidden = !hasBox;
}

/** Drag-and-drop anywhere: a counter, because dragenter/leave fire for every child element. */
function wireDrop() {
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    $("#drop").hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) $("#drop").hidden = true;
  });
  document.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  document.addEventListener("drop", (event) => {
    depth = 0;
    $("#drop").hidden = true;
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    event.preventDefault();
    searchByFile(file);
  });
}

/** The search box, its chip, the file picker, paste and drop anywhere. */
export function wireQuery() {
  const input = $("#q");
  // Words typed on the People view are a search: its results show (the Map keeps showing where they are).
  const toResults = () => { if (currentView() === "people") showView("results"); };
  on(input, "input", () => { useText(input.value); toResults(); searchSoon(); });
  on("#search-form", "submit", (event) => { event.preventDefault(); useText(input.value); toResults(); searchNow(); });
  on(input, "keydown", (event) => {
    // Backspace in an empty box removes the example chip, as in a tag input.
    if (event.key === "Backspace" && !input.value && (state.example || state.similar)) clearQuery();
  });
  on("#query-chip-remove", "click", clearQuery);
  on("#pick", "click", () => $("#file").click());
  on("#file", "change", (event) => {
    if (event.target.files[0]) searchByFile(event.target.files[0]);
    event.target.value = ""; // picking the same file again must fire change again
  });
  on(document, "paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find(mediaKind);
    if (!file) return; // plain text goes where it was pasted
    event.preventDefault();
    searchByFile(file);
  });
  wireDrop();
}

/** The example panel's region box and its two buttons. */
export function wireExample() {
  on("#example-canvas", "pointerdown pointermove pointerup pointercancel", onBoxPointer);
  on("#region-search", "click", searchNow);
  on("#region-clear", "click", () => { state.example.box = null; drawBox(); updateBoxButtons(); searchNow(); });
}
