// One result card: thumbnail, score, "liked" marker, video moment, votes, what was said or written
// that matched (passages.js), and the near-duplicates (resized copies, screenshots, re-encodes) the
// server folded into it, listed on demand.

import { $, baseName, enc, formatRange, isVideoMoment, make } from "./api.js";
import { paintVotes } from "./feedback.js";
import { bestPassage, describe, passageLine } from "./passages.js";

export function renderCard(result, index) {
  const card = $("#card-tpl").content.firstElementChild.cloneNode(true);
  const name = result.name || baseName(result.path);
  card.dataset.index = index;
  card.dataset.key = result.key;
  card.dataset.kind = result.kind;
  const why = (result.why || []).join(" · ");
  const when = isVideoMoment(result) ? `, video ${formatRange(result)}` : "";
  const near = result.near_duplicates || [];
  const extras = [result.pinned && "liked", near.length && `${near.length} similar folded in`].filter(Boolean);
  const passage = bestPassage(result);
  card.setAttribute("aria-label", `${name}${when}, score ${result.score.toFixed(2)}` +
    `${extras.length ? `, ${extras.join(", ")}` : ""}${passage ? `. ${describe(passage)}` : ""}${why ? `. ${why}` : ""}`);
  card.title = [result.path, passage && describe(passage), why].filter(Boolean).join("\n");
  if (passage) {
    card.classList.add("has-passage");
    $(".meta", card).after(passageLine(passage));
  }

  const img = $("img", card);
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.src = result.thumbnail_url;
  $(".score", card).textContent = result.score.toFixed(2);
  if (result.kind === "video") {
    const badge = $(".time", card);
    badge.hidden = false;
    $("span", badge).textContent = isVideoMoment(result) ? formatRange(result) : "video";
  }
  const liked = $(".liked", card);
  liked.hidden = !result.pinned;
  liked.title = "You liked this for this search: it is shown first";
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
      make("span", { className: "dup-score", textContent: item.score.toFixed(2) }));
    button.dataset.near = i;
    button.setAttribute("aria-label", `Open ${item.name}, score ${item.score.toFixed(2)}`);
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
