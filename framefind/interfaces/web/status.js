// Library status (the stats line, the progress bar, the folder filter) and indexing.

import { $, api, baseName, formatCount, make, state, toast } from "./api.js";
import { runSearch, showWelcome } from "./grid.js";
import { loadMap, mapState } from "./map.js";
import { forgetLabels, loadLabels } from "./filters.js";

const POLL_MS = 1500;

let pollTimer = 0;
let indexAsked = false; // a run we started may end before the first poll sees it running

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

export async function startIndex(paths) {
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
  forgetLabels(); // new files, new labels
  if (!$("#filters").hidden) loadLabels();
  if (!$("#map-view").hidden) loadMap(true);
  if (state.mode) runSearch(); else showWelcome();
}
