// What a click or a key does on the results: a card (open it, vote, more like this, its near-identical
// copies), the kind and folder filters, "Show more", re-index, and the welcome box's examples and its
// first-run form. What a search asks and shows is search.js's.

import { $$, on, PAGE, state } from "./api.js";
import { cancelSoon, searchNow } from "./search.js";
import { moreLike, setText } from "./query.js";
import { openViewer } from "./viewer.js";
import { startIndex } from "./status.js";
import { filtersChanged } from "./filters.js";
import { nearItems, toggleNear } from "./cards.js";
import { vote } from "./feedback.js";

function onCardClick(event) {
  const card = event.target.closest(".card");
  if (!card) return;
  const result = state.results[Number(card.dataset.index)];
  const button = event.target.closest("button");
  if (button?.classList.contains("vote")) vote(result.key, button.dataset.vote);
  else if (button?.classList.contains("similar")) moreLike(result);
  else if (button?.classList.contains("dups")) toggleNear(card, result);
  else if (button?.classList.contains("dup")) openViewer(nearItems(result), Number(button.dataset.near));
  else if (!button && !event.target.closest(".dups-list")) openViewer(state.results, Number(card.dataset.index));
}

function onCardKey(event) {
  const card = event.target.closest(".card");
  if (!card || event.target !== card) return; // Enter on a button inside is that button's
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    openViewer(state.results, Number(card.dataset.index));
  }
}

/** The welcome box (search.js showWelcome): an example's words, or the folder its first-run form names. */
function wireWelcome() {
  on("#empty", "click", (event) => {
    const example = event.target.closest("button[data-words]");
    if (example) setText(example.dataset.words, true);
  });
  on("#empty", "submit", (event) => {
    const form = event.target.closest(".index-form");
    if (!form) return;
    event.preventDefault();
    startIndex([form.elements.path.value.trim()]);
  });
}

/** The grid, its filters, "Show more" and the welcome box. */
export function wireGrid() {
  for (const button of $$(".seg[data-kind]")) {
    on(button, "click", () => {
      state.kind = button.dataset.kind;
      for (const other of $$(".seg[data-kind]")) other.setAttribute("aria-pressed", String(other === button));
      cancelSoon();
      filtersChanged();
    });
  }
  on("#under", "change", (event) => {
    state.under = event.target.value;
    cancelSoon();
    filtersChanged();
  });
  on("#reindex", "click", () => startIndex());
  on("#more", "click", () => { state.k += PAGE; searchNow(); });

  on("#grid", "click", onCardClick);
  on("#grid", "keydown", onCardKey);
  on("#grid", "error", (event) => { // a missing thumbnail: keep the empty box, not a broken-image icon
    if (event.target.tagName === "IMG") event.target.style.visibility = "hidden";
  }, true);
  wireWelcome();
}
