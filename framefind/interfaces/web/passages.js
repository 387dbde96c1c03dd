// What was said or written that matched a search: the server sends each result's evidence per signal
// (`matches`: visual, speech, text), the words with the matched ones in «». Shown on a card (the best
// passage) and in the viewer ("Why it matched", every signal). Text is always put in as text: the
// «» marks become <mark> elements, nothing the server sends is parsed as HTML.

import { formatTime, icon, make } from "./api.js";

/** Each signal: its short label (what it says about the result), its icon and its name as a filter. */
export const SIGNALS = {
  visual: { label: "Looks like", icon: "image", name: "Pictures" },
  speech: { label: "Said", icon: "speech", name: "Speech" },
  text: { label: "Written", icon: "text", name: "Text" },
};

const MARKED = /«([^«»]*)»/g;
const HAS_MARK = /«[^«»]*»/;

/** "the «quarterly» «budget»" -> [text, <mark>quarterly</mark>, text, <mark>budget</mark>] (a stray « or »
 *  is dropped). */
export function markedNodes(text = "") {
  const nodes = [];
  const plain = (from, to) => { if (to > from) nodes.push(document.createTextNode(plainText(text.slice(from, to)))); };
  let last = 0;
  for (const found of text.matchAll(MARKED)) {
    plain(last, found.index);
    nodes.push(make("mark", { textContent: found[1] }));
    last = found.index + found[0].length;
  }
  plain(last, text.length);
  return nodes;
}

/** The words without their marks, for labels and titles. */
export const plainText = (text) => (text || "").replace(/[«»]/g, "");

const spoken = (match) => match.signal === "speech" || match.signal === "text";

/** The passage to show on a card: a speech or text match, one where the typed words were found first. */
export function bestPassage(result) {
  const passages = (result.matches || []).filter((m) => spoken(m) && m.text);
  return passages.find((m) => HAS_MARK.test(m.text)) || passages[0] || null;
}

/** True when some signal besides the picture took part: the page then says why each result matched. */
export const hasPassages = (result) => (result.matches || []).some(spoken);

/** "0:12", or "" for an image's text. */
export const timeOf = (match) => (match.start != null ? formatTime(match.start) : "");

/** One line for a screen reader or a tooltip: Said at 0:02: “the quarterly budget is ready”. */
export function describe(match) {
  const time = timeOf(match);
  return `${SIGNALS[match.signal]?.label ?? match.signal}${time ? ` at ${time}` : ""}: “${plainText(match.text)}”`;
}

/** The signal's icon and label (and time): [speech icon] Said · 0:12. */
export function signalTag(match, { time = true } = {}) {
  const signal = SIGNALS[match.signal] || { label: match.signal, icon: "search" };
  const when = time ? timeOf(match) : "";
  const tag = make("span", { className: `signal-tag signal-${match.signal}` }, icon(signal.icon),
    make("span", { className: "signal-label", textContent: signal.label }));
  if (when) tag.append(make("span", { className: "signal-time", textContent: when }));
  return tag;
}

/** A card's passage: the tag, then the words with the matched ones marked (two lines at most). */
export function passageLine(match) {
  const line = make("p", { className: "passage", title: describe(match) }, signalTag(match), " ",
    make("span", { className: "passage-text" }, ...markedNodes(match.text)));
  line.dataset.signal = match.signal;
  return line;
}
