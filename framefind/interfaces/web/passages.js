// What was said, written or named that matched a search: the server sends each result's evidence per
// signal (`matches`: visual, speech, text, metadata, face), the words with the matched ones in «»; the file's
// own words (metadata) come after the field that holds them ("caption: A red «tram»"). Shown on a card
// (the best passage; a face match names who: "Face Barack (0.38 apart)") and in the viewer ("Why it matched", every signal). Text is always put in as text:
// the «» marks become <mark> elements, nothing the server sends is parsed as HTML.

import { formatTime, icon, make } from "./api.js";

/** Each signal: its short label (what it says about the result), its icon, its name as a filter and how
 *  "matched by ..." names it. */
export const SIGNALS = {
  visual: { label: "Looks like", icon: "image", name: "Pictures", by: "pictures" },
  speech: { label: "Said", icon: "speech", name: "Speech", by: "speech" },
  text: { label: "Written", icon: "text", name: "Text", by: "text" },
  metadata: { label: "File", icon: "tag", name: "File words", by: "the file's words" },
  face: { label: "Face", icon: "person", name: "Faces", by: "the face" }, // an example picture's face: who it is
};

/** A file's words as the server sends them, "caption: A red «tram»" -> ["caption", "A red «tram»"]
 *  (field "" for any other text). */
export function splitField(match) {
  const found = match.signal === "metadata" ? /^(\w[\w ]{0,30}): ([^]*)$/.exec(match.text || "") : null;
  return found ? [found[1], found[2]] : ["", match.text || ""];
}

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

const spoken = (match) => ["speech", "text", "metadata", "face"].includes(match.signal);

/** Worth a line on a card: a file's name is on the card already ("name: coffee" would only repeat it). */
const onCard = (match) => match.text && spoken(match) && splitField(match)[0] !== "name";

/** The passage to show on a card: a speech, text or file-words match, one where the typed words were
 *  found first. */
export function bestPassage(result) {
  const passages = (result.matches || []).filter(onCard);
  return passages.find((m) => HAS_MARK.test(m.text)) || passages[0] || null;
}

/** True when some signal besides the picture took part: the page then says why each result matched. */
export const hasPassages = (result) => (result.matches || []).some(spoken);

/** "0:12", or "" for an image's text. */
export const timeOf = (match) => (match.start != null ? formatTime(match.start) : "");

/** One line for a screen reader or a tooltip: Said at 0:02: “the quarterly budget is ready”, File caption:
 *  “A red tram climbing through Alfama”. */
export function describe(match) {
  const time = timeOf(match);
  const [field, words] = splitField(match);
  const label = `${SIGNALS[match.signal]?.label ?? match.signal}${field ? ` ${field}` : ""}`;
  return `${label}${time ? ` at ${time}` : ""}: “${plainText(words)}”`;
}

/** The words of a match as nodes: the file's field ("caption: ", muted) first, then the words, marked. */
export function matchNodes(match) {
  const [field, words] = splitField(match);
  return [...(field ? [make("span", { className: "match-field", textContent: `${field}: ` })] : []),
    ...markedNodes(words)];
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
    make("span", { className: "passage-text" }, ...matchNodes(match)));
  line.dataset.signal = match.signal;
  return line;
}
