// framefind web UI: plain DOM, no framework, no build step, nothing fetched from outside this server.
// One `state` object; small render functions rebuild the parts of the page that depend on it.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
/** addEventListener for one element (or selector) and one or more space-separated event types. */
const on = (target, types, handler, options) => {
  const node = typeof target === "string" ? $(target) : target;
  for (const type of types.split(" ")) node.addEventListener(type, handler, options);
};
/** A new element: make("button", {className: "btn", textContent: "Go"}, ...children). */
const make = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const PAGE = 48; // results per request; "Show more" asks for the next PAGE
const DEBOUNCE_MS = 200;
const POLL_MS = 1500;
const MEDIA_EXT = {
  image: /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i,
  video: /\.(mp4|m4v|webm|mov|mkv|avi|mpe?g|ogv|3gp|wmv)$/i,
};

const state = {
  mode: null, // "text" | "image" | "video" | "similar" | null (nothing asked yet)
  text: "",
  example: null, // {file, name, kind, url, box: [x, y, w, h] | null}
  similar: null, // {key, name, thumbnail_url}
  kind: "", // "" (both), "image" or "video"
  under: "", // folder filter, one of status.roots
  k: PAGE,
  results: [],
  status: null,
  feedback: new Map(), // "query\0key" -> "up" | "down", as stored by the server
};

// ---------------------------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------------------------

/** fetch JSON from our own server; throws Error(message) with the server's {"error"} text. */
async function api(path, { method = "GET", json, body, signal } = {}) {
  const init = { method, signal, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body; // FormData: the browser sets the multipart boundary itself
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Error("Cannot reach the framefind server. Is `framefind serve` still running?");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.error || `${response.status} ${response.statusText}`);
  return data;
}

const enc = encodeURIComponent; // result keys contain "@" and "-": always encode them in paths

// ---------------------------------------------------------------------------------------------
// Small formatting helpers
// ---------------------------------------------------------------------------------------------

function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
const formatRange = (r) => `${formatTime(r.start)}–${formatTime(r.end)}`;
const formatCount = (n, word) => `${(n ?? 0).toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
const baseName = (path) => (path || "").split(/[\\/]/).pop();
const isVideoMoment = (r) => r.kind === "video" && r.start != null && r.end != null;

function mediaKind(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  if (MEDIA_EXT.image.test(file.name)) return "image";
  if (MEDIA_EXT.video.test(file.name)) return "video";
  return null;
}

let toastTimer = 0;
function toast(message, isError = false) {
  const box = $("#toast");
  box.textContent = message;
  box.classList.toggle("err", isError);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 5000 : 2200);
}

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

async function runSearch() {
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
function searchSoon() {
  clearTimeout(debounceTimer);
  debounceTimer = setTimeout(runSearch, DEBOUNCE_MS);
}
function searchNow() {
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
function syncUrl() {
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
function showWelcome() {
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

function paintVotes(root, key) {
  const stored = state.feedback.get(feedbackKey(queryLabel(), key));
  for (const button of $$(".vote", root)) {
    button.setAttribute("aria-pressed", String(button.dataset.vote === stored));
    button.disabled = !queryLabel(); // a vote needs a query to belong to
  }
}

async function vote(key, value) {
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

async function loadFeedback() {
  try {
    const data = await api("/api/feedback");
    for (const row of data.feedback || []) state.feedback.set(feedbackKey(row.query, row.key), row.vote);
    for (const card of $$(".card")) paintVotes(card, card.dataset.key);
  } catch { /* feedback is optional: the search still works without it */ }
}

// ---------------------------------------------------------------------------------------------
// Query chip, text, example files, "more like this"
// ---------------------------------------------------------------------------------------------

function setText(words, now = false) {
  $("#q").value = words;
  useText(words);
  now ? searchNow() : searchSoon();
}

function useText(words) {
  setQuery({ mode: words.trim() ? "text" : null, text: words });
}

/** Switch what is asked (words, an example file, a library item); everything else is reset. */
function setQuery(changes) {
  if (state.example) URL.revokeObjectURL(state.example.url); // the old example's preview
  Object.assign(state, { text: "", example: null, similar: null, k: PAGE }, changes);
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

function moreLike(result) {
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

function sizeBoxCanvas() {
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

// ---------------------------------------------------------------------------------------------
// Viewer (modal dialog)
// ---------------------------------------------------------------------------------------------

const viewer = { list: [], index: -1, item: null, stopAtEnd: false, raf: 0, returnFocus: null };

function openViewer(list, index) {
  viewer.list = list;
  viewer.returnFocus = document.activeElement;
  const dialog = $("#viewer");
  if (!dialog.open) dialog.showModal();
  showItem(index);
}

async function openKey(key) {
  try {
    const item = await api(`/api/items/${enc(key)}`);
    const path = item.paths?.[0] || "";
    openViewer([{ ...item, path, name: baseName(path), duplicates: (item.paths || []).slice(1), why: [] }], 0);
  } catch (err) {
    toast(err.message, true);
  }
}

function showItem(index) {
  viewer.index = index;
  const item = viewer.item = viewer.list[index];
  const video = $("#v-video"), img = $("#v-img");
  const moment = isVideoMoment(item);
  $("#v-title").textContent = item.name || baseName(item.path);
  $("#v-path").textContent = [item.path, ...(item.duplicates || [])].join("  ·  ");
  $("#v-prev").disabled = index <= 0;
  $("#v-next").disabled = index >= viewer.list.length - 1;
  const why = (item.why || []).join(" · ");
  $("#v-why").textContent = [item.score != null && `Score ${item.score.toFixed(3)}`, why].filter(Boolean).join(" — ");
  $("#v-open").href = item.media_url;
  const clip = $("#v-clip");
  clip.hidden = !item.clip_url;
  if (item.clip_url) {
    clip.href = item.clip_url;
    const stem = (item.name || "clip").replace(/\.[^.]+$/, "");
    clip.download = `${stem}-${Math.round(item.start)}s-${Math.round(item.end)}s.mp4`;
  }
  $("#v-replay").hidden = !moment;
  $("#timeline").hidden = item.kind !== "video";
  paintVotes($("#viewer"), item.key);
  // An item opened from the map was not an answer to the current query: nothing to vote on.
  if (viewer.list !== state.results) for (const button of $$("#viewer .vote")) button.disabled = true;

  if (item.kind === "video") {
    img.hidden = true;
    img.removeAttribute("src");
    video.hidden = false;
    showVideo(video, item);
  } else {
    stopVideo();
    video.hidden = true;
    img.hidden = false;
    img.alt = item.name || "";
    // Browsers cannot show some originals (HEIC, TIFF): fall back to the thumbnail.
    img.onerror = () => { img.onerror = null; img.src = item.thumbnail_url; };
    img.src = item.media_url;
  }
}

function showVideo(video, item) {
  const begin = () => playMoment();
  // Stepping between moments of the same file only seeks: no reload, no flash.
  if (video.getAttribute("src") === item.media_url && video.readyState >= 1) {
    begin();
  } else {
    video.src = item.media_url;
    video.addEventListener("loadedmetadata", begin, { once: true });
  }
  drawTimeline();
}

/** Seek to the moment's start and play until its end (then the video is the user's to play on). */
function playMoment() {
  const video = $("#v-video"), item = viewer.item;
  if (!item || item.kind !== "video") return;
  viewer.stopAtEnd = isVideoMoment(item);
  if (viewer.stopAtEnd) video.currentTime = item.start;
  // Autoplay rules may refuse sound without a gesture: retry muted rather than sit still. (Not on
  // AbortError: that is a pause or a new source, and playing again would undo it.)
  video.play()?.catch((err) => {
    if (err.name !== "NotAllowedError" || viewer.item !== item) return;
    video.muted = true;
    video.play().catch(() => {});
  });
  watchEnd();
}

/** timeupdate comes only ~4 times a second; a frame loop stops within one frame of the end. */
function watchEnd() {
  cancelAnimationFrame(viewer.raf);
  const video = $("#v-video");
  const tick = () => {
    checkEnd();
    drawTimeline();
    if (!video.paused && $("#viewer").open) viewer.raf = requestAnimationFrame(tick);
  };
  viewer.raf = requestAnimationFrame(tick);
}

function checkEnd() {
  const video = $("#v-video"), item = viewer.item;
  if (viewer.stopAtEnd && item && video.currentTime >= item.end) {
    video.pause();
    viewer.stopAtEnd = false;
  }
}

function stopVideo() {
  const video = $("#v-video");
  cancelAnimationFrame(viewer.raf);
  viewer.stopAtEnd = false;
  video.pause();
  if (video.hasAttribute("src")) {
    video.removeAttribute("src");
    video.load(); // drop the connection that a paused video keeps open
  }
}

function drawTimeline() {
  const video = $("#v-video"), item = viewer.item;
  if (!item || item.kind !== "video") return;
  const duration = Number.isFinite(video.duration) ? video.duration : item.duration || item.end || 0;
  const pct = (t) => `${duration ? Math.min(100, Math.max(0, (t / duration) * 100)) : 0}%`;
  const seg = $("#track-seg");
  seg.hidden = !isVideoMoment(item);
  if (isVideoMoment(item)) {
    seg.style.left = pct(item.start);
    seg.style.width = `calc(${pct(item.end - item.start)})`;
    $("#t-moment").textContent = `Moment ${formatRange(item)}`;
  } else {
    $("#t-moment").textContent = "";
  }
  $("#track-head").style.left = pct(video.currentTime);
  $("#track-fill").style.width = pct(video.currentTime);
  $("#t-now").textContent = formatTime(video.currentTime);
  $("#t-dur").textContent = formatTime(duration);
  const track = $("#track");
  track.setAttribute("aria-valuemax", String(Math.round(duration)));
  track.setAttribute("aria-valuenow", String(Math.round(video.currentTime)));
  track.setAttribute("aria-valuetext", `${formatTime(video.currentTime)} of ${formatTime(duration)}`);
}

function seekTo(seconds) {
  const video = $("#v-video");
  if (!Number.isFinite(video.duration)) return;
  video.currentTime = Math.min(video.duration, Math.max(0, seconds));
  viewer.stopAtEnd = false; // the user took over
  drawTimeline();
}

function onTrackPointer(event) {
  const track = $("#track");
  if (event.type === "pointerdown") track.setPointerCapture(event.pointerId);
  else if (!track.hasPointerCapture(event.pointerId)) return;
  const rect = track.getBoundingClientRect();
  seekTo(((event.clientX - rect.left) / rect.width) * $("#v-video").duration);
}

function step(delta) {
  const next = viewer.index + delta;
  if (next >= 0 && next < viewer.list.length) showItem(next);
}

function onViewerKey(event) {
  const target = event.target;
  if (target.tagName === "VIDEO" || target.id === "track") return; // they use the arrows themselves
  if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
  if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
}

function onViewerClosed() {
  stopVideo();
  $("#v-img").removeAttribute("src");
  // Give focus back to the card of the item last shown, so keyboard users keep their place.
  // After a frame: the dialog itself restores focus to its opener once this handler has run.
  const card = viewer.list === state.results ? $(`.card[data-index="${viewer.index}"]`) : null;
  const target = card || viewer.returnFocus;
  requestAnimationFrame(() => target?.focus?.());
  viewer.item = null;
}

// ---------------------------------------------------------------------------------------------
// Map view: a 2-D projection of the library on a canvas
// ---------------------------------------------------------------------------------------------

const mapState = { points: null, loading: false, zoom: 1, panX: 0, panY: 0, hover: null, drag: null,
  images: new Map(), highlight: new Set() };
const THUMB_LIMIT = 220; // draw thumbnails when at most this many points are on screen, else dots
const VIDEO_COLOR = "#e8793a";
const MAP_HIGHLIGHT = 12; // the best matches of the current search are outlined on the map

async function loadMap(force = false) {
  if ((mapState.points && !force) || mapState.loading) return;
  mapState.loading = true;
  $("#map-hint").textContent = "Loading the map…";
  try {
    const data = await api("/api/map?limit=1500");
    mapState.points = normalise(data.points || []);
    $("#map-hint").textContent = mapState.points.length
      ? `${formatCount(mapState.points.length, "item")}: similar ones sit close together. Scroll to zoom, drag to pan.`
      : "Nothing to map yet: index some photos or videos first.";
  } catch (err) {
    $("#map-hint").textContent = err.message;
  } finally {
    mapState.loading = false;
  }
  drawMap();
}

/** Stretch the projection to fill [-1, 1] on both axes: its units mean nothing, the screen space does. */
function normalise(points) {
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const fit = (v, lo, hi) => (hi > lo ? ((v - lo) / (hi - lo)) * 2 - 1 : 0);
  return points.map((p) => ({ ...p, x: fit(p.x, x0, x1), y: fit(p.y, y0, y1) }));
}

function mapGeometry() {
  const canvas = $("#map");
  const width = canvas.clientWidth, height = canvas.clientHeight;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const margin = 56; // room for half a thumbnail at the edges
  const { zoom, panX, panY } = mapState;
  const sx = Math.max(10, width / 2 - margin) * zoom, sy = Math.max(10, height / 2 - margin) * zoom;
  return { width, height, ratio, sx, sy, cx: width / 2 + panX, cy: height / 2 + panY };
}

/** Screen position (CSS pixels) of a point; y grows upwards in the data. */
function toScreen(point, geo) {
  return [geo.cx + point.x * geo.sx, geo.cy - point.y * geo.sy];
}

function mapImage(point) {
  let img = mapState.images.get(point.key);
  if (!img) {
    img = new Image();
    img.onload = () => scheduleMapDraw();
    img.src = point.thumbnail_url;
    mapState.images.set(point.key, img);
  }
  return img.complete && img.naturalWidth ? img : null;
}

/** drawImage cropped to fill the box without distortion (CSS object-fit: cover). */
function drawCover(ctx, img, x, y, w, h) {
  const scale = Math.max(w / img.naturalWidth, h / img.naturalHeight);
  const sw = w / scale, sh = h / scale;
  ctx.drawImage(img, (img.naturalWidth - sw) / 2, (img.naturalHeight - sh) / 2, sw, sh, x, y, w, h);
}

let mapFrame = 0;
function scheduleMapDraw() {
  if (!mapFrame) mapFrame = requestAnimationFrame(() => { mapFrame = 0; drawMap(); });
}

function drawMap() {
  if (!mapState.points || $("#map-view").hidden) return;
  const geo = mapGeometry();
  const ctx = $("#map").getContext("2d");
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim(), muted = styles.getPropertyValue("--muted").trim();
  ctx.setTransform(geo.ratio, 0, 0, geo.ratio, 0, 0);
  ctx.clearRect(0, 0, geo.width, geo.height);
  const marked = (point) => mapState.highlight.has(point.key);
  const visible = mapState.points.map((p) => [p, ...toScreen(p, geo)])
    .filter(([, x, y]) => x > -40 && y > -40 && x < geo.width + 40 && y < geo.height + 40)
    .sort(([a], [b]) => marked(a) - marked(b)); // the current search's best matches on top
  const thumbs = visible.length <= THUMB_LIMIT;
  // Few points: big thumbnails; many: smaller ones, growing again as the user zooms in.
  const base = Math.min(96, 360 / Math.sqrt(visible.length || 1));
  const size = Math.min(120, Math.max(34, base * Math.sqrt(mapState.zoom)));
  for (const [point, x, y] of visible) {
    const img = thumbs ? mapImage(point) : null;
    if (img) {
      drawCover(ctx, img, x - size / 2, y - size / 2, size, size * 0.75);
      ctx.lineWidth = marked(point) ? 3 : 1;
      ctx.strokeStyle = marked(point) ? accent : point.kind === "video" ? VIDEO_COLOR : "rgb(255 255 255 / 70%)";
      ctx.strokeRect(x - size / 2, y - size / 2, size, size * 0.75);
    } else {
      ctx.beginPath();
      ctx.arc(x, y, marked(point) ? 5 : 3.5, 0, Math.PI * 2);
      ctx.fillStyle = marked(point) ? accent : point.kind === "video" ? VIDEO_COLOR : muted;
      ctx.fill();
    }
  }
  mapState.thumbSize = thumbs ? size : 0;
}

function pointAt(event) {
  if (!mapState.points) return null;
  const geo = mapGeometry();
  const rect = $("#map").getBoundingClientRect();
  const mx = event.clientX - rect.left, my = event.clientY - rect.top;
  const reach = mapState.thumbSize ? mapState.thumbSize / 2 : 8;
  let best = null, bestDist = Infinity;
  for (const point of mapState.points) {
    const [x, y] = toScreen(point, geo);
    const dist = Math.max(Math.abs(x - mx), Math.abs(y - my));
    if (dist <= reach && dist < bestDist) [best, bestDist] = [point, dist];
  }
  return best;
}

function onMapPointer(event) {
  const canvas = $("#map");
  if (event.type === "pointerdown") {
    canvas.setPointerCapture(event.pointerId);
    mapState.drag = { x: event.clientX, y: event.clientY, panX: mapState.panX, panY: mapState.panY, moved: false };
    return;
  }
  const drag = mapState.drag;
  if (event.type === "pointermove" && drag) {
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    if (drag.moved) {
      canvas.classList.add("dragging");
      mapState.panX = drag.panX + dx;
      mapState.panY = drag.panY + dy;
      $("#map-tip").hidden = true;
      scheduleMapDraw();
    }
    return;
  }
  if (event.type === "pointerup" && drag) {
    mapState.drag = null;
    canvas.classList.remove("dragging");
    const point = !drag.moved && pointAt(event);
    if (point) openKey(point.key); // a click, not a pan
    return;
  }
  if (event.type === "pointermove") showMapTip(event, pointAt(event));
  if (event.type === "pointerleave") showMapTip(event, null);
}

function showMapTip(event, point) {
  const tip = $("#map-tip");
  $("#map").classList.toggle("pointing", Boolean(point));
  tip.hidden = !point;
  if (!point) return;
  if (mapState.hover !== point.key) {
    $("#map-tip-img").src = point.thumbnail_url;
    $("#map-tip-label").textContent = baseName(point.path);
    mapState.hover = point.key;
  }
  const wrap = $("#map-wrap").getBoundingClientRect();
  const x = event.clientX - wrap.left, y = event.clientY - wrap.top;
  tip.style.left = `${Math.min(x + 14, wrap.width - 180)}px`;
  tip.style.top = `${Math.min(y + 14, wrap.height - 160)}px`;
}

function onMapWheel(event) {
  event.preventDefault();
  const rect = $("#map").getBoundingClientRect();
  const mx = event.clientX - rect.left - rect.width / 2, my = event.clientY - rect.top - rect.height / 2;
  const factor = Math.exp(-event.deltaY * 0.0015);
  const zoom = Math.min(40, Math.max(0.5, mapState.zoom * factor));
  const applied = zoom / mapState.zoom;
  // Keep the spot under the cursor where it is.
  mapState.panX = mx - (mx - mapState.panX) * applied;
  mapState.panY = my - (my - mapState.panY) * applied;
  mapState.zoom = zoom;
  scheduleMapDraw();
}

function showView(name) {
  const map = name === "map";
  $("#results-view").hidden = map;
  $("#map-view").hidden = !map;
  for (const [id, on] of [["#tab-results", !map], ["#tab-map", map]]) {
    $(id).setAttribute("aria-selected", String(on));
    $(id).tabIndex = on ? 0 : -1;
  }
  if (map) {
    document.documentElement.style.setProperty("--header-h", `${$(".top").offsetHeight}px`);
    loadMap();
    drawMap();
  }
}

// ---------------------------------------------------------------------------------------------
// Library status and indexing
// ---------------------------------------------------------------------------------------------

let pollTimer = 0;
let indexAsked = false; // a run we started may end before the first poll sees it running

async function refreshStatus() {
  clearTimeout(pollTimer);
  const wasRunning = Boolean(state.status?.index?.running);
  try {
    state.status = await api("/api/status");
  } catch (err) {
    $("#stats").textContent = err.message;
    pollTimer = setTimeout(refreshStatus, POLL_MS * 4);
    return;
  }
  renderStatus(state.status);
  const running = Boolean(state.status.index?.running);
  if (running) pollTimer = setTimeout(refreshStatus, POLL_MS);
  if ((wasRunning || indexAsked) && !running) {
    indexAsked = false;
    onIndexFinished();
  }
}

function renderStatus(status) {
  const index = status.index || {};
  const parts = [formatCount(status.files, "file"), formatCount(status.images, "image"),
    formatCount(status.videos, "video"), status.model];
  if (index.running) parts.unshift(index.total ? `Indexing ${Math.floor(index.done)} of ${index.total}…` : "Indexing…");
  const stats = $("#stats");
  stats.textContent = parts.filter(Boolean).join(" · ");
  stats.title = status.library || "";
  if (index.error) stats.append(" · ", make("span", { className: "err", textContent: index.error }));
  const bar = $("#progress");
  bar.hidden = !index.running;
  bar.classList.toggle("indeterminate", !index.total); // still counting files: no fraction yet
  if (index.running) {
    const fraction = index.total ? index.done / index.total : 0;
    $("#progress-fill").style.width = `${Math.round(fraction * 100)}%`;
    bar.setAttribute("aria-valuemax", String(index.total || 0));
    bar.setAttribute("aria-valuenow", String(Math.floor(index.done || 0)));
  }
  $("#reindex").disabled = Boolean(index.running) || !(status.roots || []).length;
  renderRoots(status.roots || []);
}

function renderRoots(roots) {
  const select = $("#under");
  select.closest(".folder").hidden = !roots.length;
  const current = [...select.options].slice(1).map((o) => o.value);
  if (current.join("\n") === roots.join("\n")) return; // keep the user's selection and focus
  const options = roots.map((root) => Object.assign(new Option(baseName(root) || root, root), { title: root }));
  select.replaceChildren(new Option("All folders", ""), ...options);
  select.value = roots.includes(state.under) ? state.under : "";
  state.under = select.value;
}

async function startIndex(paths) {
  try {
    await api("/api/index", { method: "POST", json: paths ? { paths } : {} });
    indexAsked = true;
    toast("Indexing started");
  } catch (err) {
    toast(err.message, true);
  }
  refreshStatus();
}

function onIndexFinished() {
  const { error, report } = state.status.index || {};
  const n = (field) => report?.[field] ?? 0;
  const counts = report && `: ${n("embedded")} new, ${n("removed")} removed, ${n("failed")} failed`;
  toast(error ? `Indexing failed: ${error}` : `Indexing finished${counts || ""}`, Boolean(error));
  mapState.points = null; // the projection changed
  mapState.images.clear();
  if (!$("#map-view").hidden) loadMap(true);
  if (state.mode) runSearch(); else showWelcome();
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

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

function onGlobalKey(event) {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
  if (event.key === "/" && !typing && !$("#viewer").open) {
    event.preventDefault();
    $("#q").focus();
    $("#q").select();
  }
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

function wire() {
  const input = $("#q"), dialog = $("#viewer"), video = $("#v-video");
  on(input, "input", () => { useText(input.value); searchSoon(); });
  on("#search-form", "submit", (event) => { event.preventDefault(); useText(input.value); searchNow(); });
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
  on(document, "keydown", onGlobalKey);

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

  on("#example-canvas", "pointerdown pointermove pointerup pointercancel", onBoxPointer);
  on("#region-search", "click", searchNow);
  on("#region-clear", "click", () => { state.example.box = null; drawBox(); updateBoxButtons(); searchNow(); });

  on("#v-close", "click", () => dialog.close());
  on(dialog, "close", onViewerClosed);
  on(dialog, "keydown", onViewerKey);
  on(dialog, "click", (event) => { if (event.target === dialog) dialog.close(); }); // the backdrop
  on("#v-prev", "click", () => step(-1));
  on("#v-next", "click", () => step(1));
  on("#v-replay", "click", playMoment);
  on("#v-similar", "click", () => { const item = viewer.item; dialog.close(); moreLike(item); });
  for (const button of $$(".vote", dialog)) on(button, "click", () => vote(viewer.item.key, button.dataset.vote));
  on(video, "timeupdate", () => { checkEnd(); drawTimeline(); });
  on(video, "play", watchEnd);
  on(video, "loadedmetadata", drawTimeline);
  on(video, "seeking", () => { // the user scrubbed out of the moment: stop guarding its end
    const item = viewer.item;
    const outside = item && (video.currentTime > item.end || video.currentTime < item.start - 0.5);
    if (viewer.stopAtEnd && outside) viewer.stopAtEnd = false;
  });
  on("#track", "pointerdown pointermove", onTrackPointer);
  on("#track", "keydown", (event) => {
    const delta = { ArrowLeft: -1, ArrowRight: 1, PageDown: -10, PageUp: 10 }[event.key];
    if (delta) { event.preventDefault(); seekTo(video.currentTime + delta); }
  });

  on("#tab-results", "click", () => showView("results"));
  on("#tab-map", "click", () => showView("map"));
  on(".tabs", "keydown", (event) => { // arrow keys move between the two tabs (ARIA tabs pattern)
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const toMap = $("#tab-results").getAttribute("aria-selected") === "true";
    showView(toMap ? "map" : "results");
    $(toMap ? "#tab-map" : "#tab-results").focus();
  });
  on("#map", "pointerdown pointermove pointerup pointerleave", onMapPointer);
  on("#map", "wheel", onMapWheel, { passive: false });
  on("#map-reset", "click", () => { Object.assign(mapState, { zoom: 1, panX: 0, panY: 0 }); drawMap(); });
  new ResizeObserver(() => scheduleMapDraw()).observe($("#map-wrap"));
  new ResizeObserver(() => { if (!$("#example").hidden) sizeBoxCanvas(); }).observe($("#example-media"));
}

async function start() {
  wire();
  const words = new URL(location.href).searchParams.get("q");
  syncUrl(); // drops ?token= right away
  await refreshStatus();
  loadFeedback();
  if (words) setText(words, true);
  else showWelcome();
}

start();
