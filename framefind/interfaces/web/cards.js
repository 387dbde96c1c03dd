// One result card: thumbnail, score, "liked" or "label" marker, video moment, where it was taken, votes,
// what was said, written or named that matched (passages.js), and the near-duplicates (resized copies, screenshots, re-encodes)
// the server folded into it, listed on demand. The score is the search's one relevance score (the
// estimated probability of a match, 0-1), shown with 3 decimals like the CLI: a picture matched by sight
// is often 0.01-0.2, so 2 decimals would show many as 0.01 or 0.00.

import { $, baseName, enc, formatRange, isVideoMoment, make, state } from "./api.js";
import { paintVotes } from "./feedback.js";
import { bestPassage, describe, passageLine } from "./passages.js";

/** A place or person alone (chosen, or the only words typed) lists what was taken there or shows them: each
 *  result is what was asked (score 1, no cutoff), no score to weigh. */
function listed() {
  const answer = state.answer;
  return !state.mode || Boolean((answer?.places || answer?.people) && answer.cutoff == null &&
    (answer.results || []).every((r) => r.score === 1));
}

/** A score as every interface shows it: 3 decimals. */
export const scoreText = (score) => Number(score).toFixed(3);

export function renderCard(result, index) {
  const card = $("#card-tpl").content.firstElementChild.cloneNode(true);
  const name = result.name || baseName(result.path);
  card.dataset.index = index;
  card.dataset.key = result.key;
  card.dataset.kind = result.kind;
  const why = (result.why || []).join(" · ");
  const when = isVideoMoment(result) ? `, video ${formatRange(result)}` : "";
  const near = result.near_duplicates || [];
  const label = boostedLabel();
  const extras = [result.pinned && "liked", result.boosted && `labelled${label ? ` ${label}` : ""}`,
    near.length && `${near.length} similar folded in`].filter(Boolean);
  const passage = bestPassage(result);
  const where = result.place ? `taken in ${result.place}` : "";
  const scored = !listed();
  card.setAttribute("aria-label", `${name}${when}${where ? `, ${where}` : ""}` +
    `${scored ? `, score ${scoreText(result.score)}` : ""}` +
    `${extras.length ? `, ${extras.join(", ")}` : ""}${passage ? `. ${describe(passage)}` : ""}${why ? `. ${why}` : ""}`);
  card.title = [result.path, where && `Taken in ${result.place}`, passage && describe(passage), why]
    .filter(Boolean).join("\n");
  if (passage) {
    card.classList.add("has-passage");
    $(".meta", card).after(passageLine(passage));
  }

  const img = $("img", card);
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.src = result.thumbnail_url;
  $(".score", card).textContent = scoreText(result.score);
  $(".score", card).hidden = !scored;
  if (result.place) {
    $(".place", card).hidden = false;
    $(".place-name", card).textContent = result.place;
  }
  if (result.kind === "video") {
    const badge = $(".time", card);
    badge.hidden = false;
    $("span", badge).textContent = isVideoMoment(result) ? formatRange(result) : "video";
  }
  const liked = $(".liked", card);
  liked.hidden = !result.pinned;
  liked.title = "You liked this for this search: it is shown first";
  if (result.boosted && !result.pinned) liked.after(labelBadge());
  $(".why", card).textContent = why;
  $(".name", card).textContent = name;
  const copies = result.duplicates?.length;
  if (copies) $(".name", card).append(" ", make("small", { textContent: `+${copies}`, title: "more copies" }));
  if (near.length) {
    card.classList.add("has-dups");
    const button = $(".dups", card);
    button.hidden = false;
    $("span", button).textContent = `+${near.length} similar`;
    button.title = "Near-identical copies folded into this result";
    button.setAttribute("aria-label", `Show ${near.length} near-identical ${near.length === 1 ? "copy" : "copies"}`);
    button.setAttribute("aria-controls", `dups-${index}`);
    $(".dups-list", card).id = `dups-${index}`;
  }
  paintVotes(card, result.key);
  return card;
}

/** The label a search prefers (boost_label): the one a boosted result carries. */
const boostedLabel = () => state.filters?.label || "";

/** Where the liked marker goes, for a result that carries the preferred label (and is not liked). */
function labelBadge() {
  const label = boostedLabel();
  return make("span", { className: "badge boosted", textContent: label || "Label",
    title: `Carries ${label ? `the label “${label}”` : "a label"} you prefer: shown before the rest` });
}

/** The near-duplicates of a result as viewer items (same kind; a moment's key carries its times). */
export function nearItems(result) {
  return (result.near_duplicates || []).map((near) => {
    const times = near.key.match(/@([\d.]+)-([\d.]+)$/);
    const item = { ...near, kind: result.kind, media_url: `/api/media/${enc(near.key)}`, why: [], duplicates: [] };
    if (times) Object.assign(item, { start: Number(times[1]), end: Number(times[2]), clip_url: `/api/clips/${enc(near.key)}` });
    return item;
  });
}

/** One row per near-duplicate: thumbnail, name, score; a button that opens it. */
export function nearRows(result) {
  return nearItems(result).map((item, i) => {
    const thumb = make("img", { alt: "", loading: "lazy", decoding: "async" });
    thumb.src = item.thumbnail_url;
    const button = make("button", { type: "button", className: "dup", title: item.path },
      thumb, make("span", { className: "dup-name", textContent: item.name }),
      make("span", { className: "dup-score", textContent: scoreText(item.score) }));
    button.dataset.near = i;
    button.setAttribute("aria-label", `Open ${item.name}, score ${scoreText(item.score)}`);
    return make("li", {}, button);
  });
}

/** Open or close a card's list of near-duplicates. */
export function toggleNear(card, result) {
  const button = $(".dups", card), list = $(".dups-list", card);
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  if (open && !list.childElementCount) list.append(...nearRows(result));
  list.hidden = !open;
  card.classList.toggle("expanded", open);
  if (open) list.querySelector("button")?.focus({ preventScroll: true });
}
