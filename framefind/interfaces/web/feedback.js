// Feedback: thumbs up / down on a result for the current query. The server learns from them, so after
// a vote the same search runs again and the ranking visibly changes; votes export as golden queries.

import { $, $$, api, on, state, toast } from "./api.js";

// Searching is search.js's, which imports this module (through cards.js): app.js passes it in (wireFeedback).
let runSearch = null;

/** What feedback is filed under: the words typed, the example's file name, or "similar:KEY". */
export function queryLabel() {
  if (state.mode === "text") return state.text.trim(); // the server stores the query stripped
  if (state.mode === "image" || state.mode === "video") return state.example.name;
  if (state.mode === "similar") return `similar:${state.similar.key}`;
  return "";
}

const feedbackKey = (query, key) => `${query}\u0000${key}`;

export function paintVotes(root, key) {
  const stored = state.feedback.get(feedbackKey(queryLabel(), key));
  for (const button of $$(".vote", root)) {
    button.setAttribute("aria-pressed", String(button.dataset.vote === stored));
    button.disabled = !queryLabel(); // a vote needs a query to belong to
  }
}

let rerunFor = null; // key voted on in the viewer: search again once it closes, not under it

/** Store a vote and repaint the cards of that result; resolves once stored (the viewer repaints itself
 *  then) and, outside the viewer, once the search run again is on the page. */
export async function vote(key, value) {
  const query = queryLabel();
  if (!query) return;
  try {
    const row = await api("/api/feedback", { method: "POST", json: { query, key, vote: value } });
    state.feedback.set(feedbackKey(row.query, row.key), row.vote);
    for (const card of $$(".card")) if (card.dataset.key === key) paintVotes(card, key);
    paintExport();
    toast(value === "up" ? "Marked as a good result: it now ranks first here" : "Marked as a bad result: it is left out here");
  } catch (err) {
    toast(err.message, true);
    return;
  }
  if ($("#viewer").open) rerunFor = key;
  else await learn(key);
}

/** Search again so the vote shows, keeping the reader's place: focus stays on the same control of the
 *  same result, which is brought into view (gently) if it moved out of it. */
async function learn(key) {
  const active = document.activeElement;
  const card = active?.closest?.(".card");
  const control = card && active !== card ? active.dataset.vote ? `.vote[data-vote="${active.dataset.vote}"]`
    : [...active.classList].map((c) => `.${c}`).join("") : null;
  const oldIndex = card ? Number(card.dataset.index) : -1;
  await runSearch();
  const moved = $$(".card").find((c) => c.dataset.key === key);
  if (!moved) { // left out (a thumbs down): keep focus near where it was
    if (card) ($$(".card")[Math.min(oldIndex, $$(".card").length - 1)] || $("#q")).focus({ preventScroll: true });
    return;
  }
  if (Number(moved.dataset.index) !== oldIndex) {
    moved.classList.remove("moved");
    void moved.offsetWidth; // restart the highlight animation
    moved.classList.add("moved");
    const box = moved.getBoundingClientRect();
    if (box.bottom < $(".top").getBoundingClientRect().bottom || box.top > innerHeight) {
      moved.scrollIntoView({ block: "center", behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
    }
  }
  if (card) ((control && moved.querySelector(control)) || moved).focus({ preventScroll: true });
}

export async function loadFeedback() {
  try {
    const data = await api("/api/feedback");
    for (const row of data.feedback || []) state.feedback.set(feedbackKey(row.query, row.key), row.vote);
    for (const card of $$(".card")) paintVotes(card, card.dataset.key);
  } catch { /* feedback is optional: the search still works without it */ }
  paintExport();
}

/** The export link shows once there is something to export. */
function paintExport() {
  const n = state.feedback.size;
  const link = $("#export-votes");
  link.hidden = !n;
  link.setAttribute("aria-label", `Export ${n} vote${n === 1 ? "" : "s"} as golden queries`);
}

export function wireFeedback(callbacks) {
  runSearch = callbacks.runSearch;
  on("#viewer", "close", () => {
    const key = rerunFor;
    rerunFor = null;
    // Two frames on: after the viewer's own close handler has put focus back on its card.
    if (key) requestAnimationFrame(() => requestAnimationFrame(() => learn(key)));
  });
}
