// Library status (the stats line, the progress bar, the folder filter) and indexing: what a run is
// doing (embedding pictures, transcribing speech, reading text) and what the library reads besides
// pictures (the "Speech & text" popover: status.passes, changed with the next index run).

import { $, api, baseName, formatCount, make, on, state, toast } from "./api.js";
import { runSearch } from "./search.js";
import { loadMap, mapState } from "./map.js";
import { forgetLabels, forgetPlaces, loadLabels, loadPlaces } from "./filters.js";
import { paintSignals } from "./signals.js";
import { forgetPeople, loadPeople, paintPeopleState } from "./people.js";

const POLL_MS = 1500;
// index.phase -> what it does
const PHASES = { index: "Indexing", speech: "Transcribing", ocr: "Reading text", faces: "Finding faces" };
const PASS_NAMES = { speech: "speech", ocr: "text" };

const WATCH_POLL_MS = 4000; // serve --watch: how often the page looks for batches the watcher indexed
let pollTimer = 0;
let indexAsked = false; // a run we started may end before the first poll sees it running
let watchSeen = null; // status.watching at the last look (null: not looked yet)

export async function refreshStatus() {
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
  const watching = state.status.watching;
  if (running) pollTimer = setTimeout(refreshStatus, POLL_MS);
  else if (state.status.rebuilding) pollTimer = setTimeout(refreshStatus, POLL_MS * 4); // until the build is in
  else if (watching) pollTimer = setTimeout(pollWatching, WATCH_POLL_MS); // files arrive by themselves
  if ((wasRunning || indexAsked) && !running) {
    indexAsked = false;
    onIndexFinished();
  }
  if (watching && watchSeen && watching.batches > watchSeen.batches && !running) {
    onWatched(watching.indexed - watchSeen.indexed, watching.removed - watchSeen.removed);
  }
  watchSeen = watching;
}

/** serve --watch: look at the watcher alone (cheap), and at the whole status once a batch landed or a folder
 *  went offline or came back. */
async function pollWatching() {
  try {
    const now = await api("/api/watching");
    if (now && watchSeen && now.batches === watchSeen.batches
        && JSON.stringify(now.folders) === JSON.stringify(watchSeen.folders)) {
      pollTimer = setTimeout(pollWatching, WATCH_POLL_MS);
      return;
    }
  } catch { /* the full refresh says what went wrong */ }
  refreshStatus();
}

/** serve --watch indexed a batch: what depends on the library is asked again; the results are searched again
 *  unless the user is looking at one or has scrolled down (then a toast says so). */
function onWatched(indexed, removed) {
  forgetDerived();
  const busy = $("#viewer").open || window.scrollY > 200;
  if (!busy) runSearch();
  const what = "Watched folders: " + [indexed && `${formatCount(indexed, "file")} indexed`,
    removed && `${formatCount(removed, "file")} removed`].filter(Boolean).join(", ");
  toast(busy ? `${what}: search again to include them` : what);
}

function watchingText(watching) {
  const offline = watching.folders.filter((folder) => !folder.online).length;
  return `watching ${formatCount(watching.folders.length, "folder")}` + (offline ? ` (${offline} offline)` : "");
}

function renderStatus(status) {
  const index = status.index || {};
  const passes = status.passes || [];
  const parts = [formatCount(status.files, "file"), formatCount(status.images, "image"),
    formatCount(status.videos, "video"), passes.length && formatCount(status.passages, "passage"), status.model];
  if (status.watching) parts.push(watchingText(status.watching));
  const doing = (PHASES[index.phase] || PHASES.index) + (index.on_ray ? " on the Ray cluster" : "");
  if (index.running) parts.unshift(index.total ? `${doing} ${Math.floor(index.done)} of ${index.total}…` : `${doing}…`);
  else if (status.rebuilding) parts.unshift("optimising the index…"); // searches use the current one meanwhile
  const stats = $("#stats");
  // each part kept whole on a line: a narrow screen wraps between them, never inside "watching 2 folders"
  stats.replaceChildren(...parts.filter(Boolean).flatMap((part, i) => [i ? " · " : "", make("span", { textContent: part })]));
  const folders = (status.watching?.folders || []).map((folder) =>
    `watching ${folder.path}${folder.online ? "" : " (offline: its files stay)"}${folder.polled ? " (polled)" : ""}`);
  stats.title = [status.library, passes.length && `${formatCount(status.passages, "passage")}: phrases said and ` +
    "texts written, searchable", ...folders, status.ray && `index runs use the Ray cluster at ${status.ray}`]
    .filter(Boolean).join("\n");
  if (index.error) stats.append(" · ", make("span", { className: "err", textContent: index.error }));
  const bar = $("#progress");
  bar.hidden = !index.running;
  bar.setAttribute("aria-label", doing);
  bar.classList.toggle("indeterminate", !index.total); // still counting files: no fraction yet
  if (index.running) {
    const fraction = index.total ? index.done / index.total : 0;
    $("#progress-fill").style.width = `${Math.round(fraction * 100)}%`;
    bar.setAttribute("aria-valuemax", String(index.total || 0));
    bar.setAttribute("aria-valuenow", String(Math.floor(index.done || 0)));
  }
  $("#reindex").disabled = Boolean(index.running) || !(status.roots || []).length;
  renderRoots(status.roots || []);
  renderPasses(status);
  paintSignals();
  paintPeopleState(); // "Finding faces…" while the faces pass runs
}

/** "Speech & text" button: what the library reads besides pictures; its popover turns them on or off. */
function renderPasses(status) {
  const passes = status.passes || [];
  const names = Object.keys(PASS_NAMES).filter((name) => passes.includes(name)).map((name) => PASS_NAMES[name]);
  const toggle = $("#passes-toggle");
  toggle.hidden = !status.files && !passes.length; // an empty library: the first-run form comes first
  toggle.classList.toggle("on", names.length > 0);
  $("#passes-label").textContent = names.length ? `Reads ${names.join(" & ")}` : "Speech & text";
  $("#passes-state").textContent = names.length
    ? `On: indexing reads ${names.join(" and ")} besides pictures` : "Off: indexing reads pictures only";
  if (!$("#passes").matches(":popover-open")) { // never under the user's fingers
    $("#p-speech").checked = passes.includes("speech");
    $("#p-ocr").checked = passes.includes("ocr");
  }
  const running = Boolean(status.index?.running);
  $("#passes-apply").disabled = running || !(status.roots || []).length;
  $("#passes-note").textContent = running ? "An index run is in progress: change this when it is done."
    : passes.length ? `${formatCount(status.passages, "passage")} read so far. Files read before are not read again.`
      : "Runs after pictures are indexed: searches work meanwhile. Slow on a big library.";
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

/** Start an index run (``options``: {transcribe, ocr}, kept by the library for later runs too). */
export async function startIndex(paths, options = {}) {
  try {
    await api("/api/index", { method: "POST", json: { ...(paths ? { paths } : {}), ...options } });
    indexAsked = true;
    const reads = [options.transcribe && "transcribing speech", options.ocr && "reading text"].filter(Boolean);
    toast(reads.length ? `Indexing started, ${reads.join(" and ")}` : "Indexing started");
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
  forgetDerived();
  runSearch(); // the same question again (a place alone lists what was taken there), or the welcome
}

/** New files: the map, labels, places and people are asked again (now where they are shown). */
function forgetDerived() {
  mapState.points = null; // the projection changed
  mapState.images.clear();
  forgetLabels(); // new files, new labels and places
  forgetPlaces();
  forgetPeople();
  loadPeople(); // new faces, new people (the Person filter and the People view repaint when they arrive)
  if (!$("#filters").hidden) {
    loadLabels();
    loadPlaces();
  }
  if (!$("#map-view").hidden) loadMap(true);
}

/** The "Speech & text" popover: save the choice and index with it. */
export function wireStatus() {
  const popover = $("#passes");
  on("#passes-form", "submit", (event) => {
    event.preventDefault();
    popover.hidePopover();
    startIndex(undefined, { transcribe: $("#p-speech").checked, ocr: $("#p-ocr").checked });
  });
  on(popover, "beforetoggle", (event) => {
    if (event.newState === "open" && state.status) renderPasses(state.status); // the saved choice, fresh numbers
  });
  on(popover, "toggle", (event) => {
    if (event.newState === "open") $("#p-speech").focus();
  });
}
