// The viewer: a modal dialog that shows one result (its path, where it was taken), plays a video moment
// and draws its timeline, and says why it matched: each signal's evidence (what the picture shows, what
// is said, what is written, what the file's own words say),
// a said or written passage of a video being a button that plays that passage. Each signal's row shows
// what that signal alone says (its relevance, 0-1, 3 decimals like the result's score), with the raw
// cosine it came from in its tooltip.

import { $, $$, api, baseName, enc, formatRange, formatTime, isVideoMoment, make, on, state, toast } from "./api.js";
import { paintVotes, vote } from "./feedback.js";
import { nearItems, nearRows, scoreText } from "./cards.js";
import { describe, hasPassages, matchNodes, signalTag, SIGNALS } from "./passages.js";

// guard: the part of the video playing now ({start, end}: the moment, or a passage), paused at its end.
// startWith: the part to play once the video can seek (a passage chosen before its metadata arrived).
export const viewer = { list: [], index: -1, item: null, guard: null, startWith: null, raf: 0, returnFocus: null };

export function openViewer(list, index) {
  viewer.list = list;
  $("#viewer").classList.toggle("with-matches", list.some(hasPassages));
  viewer.returnFocus = document.activeElement;
  const dialog = $("#viewer");
  if (!dialog.open) dialog.showModal();
  showItem(index);
}

export async function openKey(key) {
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
  viewer.startWith = null;
  const item = viewer.item = viewer.list[index];
  const video = $("#v-video"), img = $("#v-img");
  const moment = isVideoMoment(item);
  $("#v-title").textContent = item.name || baseName(item.path);
  $("#v-path").textContent = [item.path, ...(item.duplicates || [])].join("  ·  ");
  $("#v-place").hidden = !item.place;
  $("#v-place-name").textContent = item.place ? `Taken in ${item.place}` : "";
  $("#v-prev").disabled = index <= 0;
  $("#v-next").disabled = index >= viewer.list.length - 1;
  const why = hasPassages(item) ? `matched by ${matchedBy(item.matches)}` : (item.why || []).join(" · ");
  $("#v-why").textContent = [item.score != null && `Score ${scoreText(item.score)}`, why].filter(Boolean).join(" — ");
  showMatches(item);
  $("#v-open").href = item.media_url;
  const clip = $("#v-clip");
  clip.hidden = !item.clip_url;
  if (item.clip_url) {
    clip.href = item.clip_url;
    const stem = (item.name || "clip").replace(/\.[^.]+$/, "");
    clip.download = `${stem}-${Math.round(item.start)}s-${Math.round(item.end)}s.mp4`;
  }
  $("#v-replay").hidden = !moment;
  showNear(item);
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

/** The near-identical copies folded into this result, each one a button that opens it. */
function showNear(item) {
  const near = item.near_duplicates || [];
  $("#v-near").hidden = !near.length;
  $("#v-near-title").textContent = near.length
    ? `${near.length} near-identical ${near.length === 1 ? "copy" : "copies"} folded into this result` : "";
  $("#v-near-list").replaceChildren(...(near.length ? nearRows(item) : []));
}

/** The signals that carry a result's score: each whose own relevance is at least half the best one's
 *  ("matched by speech", not "pictures, speech" when the picture alone says 0.003 and the words 0.994;
 *  "matched by the file's words" for a caption). */
function matchedBy(matches) {
  const relevance = (m) => m.relevance ?? m.score;
  const best = Math.max(...matches.map(relevance));
  const names = matches.filter((m) => relevance(m) >= best / 2).map((m) => SIGNALS[m.signal]?.by ?? m.signal);
  return [...new Set(names)].join(", ");
}

/** "Why it matched": every signal's evidence; a said or written passage of a video plays from its time. */
function showMatches(item) {
  const matches = hasPassages(item) ? item.matches : [];
  $("#v-matches").hidden = !matches.length;
  $("#v-matches-list").replaceChildren(...matches.map((match, i) => matchRow(item, match, i)));
  const timed = item.kind === "video" ? matches.filter((m) => m.signal !== "visual" && m.start != null) : [];
  $("#track-marks").replaceChildren(...timed.map((match) => {
    const mark = make("span", { className: "track-mark", title: describe(match) });
    Object.assign(mark.dataset, { start: match.start, signal: match.signal });
    return mark;
  }));
}

function matchRow(item, match, index) {
  const visual = match.signal === "visual";
  const words = visual ? [match.text || "the picture"] : matchNodes(match);
  const body = [signalTag(match), make("span", { className: "match-text" }, ...words), matchScore(match)];
  const playable = item.kind === "video" && match.start != null;
  const row = playable
    ? make("button", { type: "button", className: "match", title: `Play from ${formatTime(match.start)}` }, ...body)
    : make("div", { className: "match" }, ...body);
  row.dataset.signal = match.signal;
  if (playable) {
    row.dataset.match = index;
    row.setAttribute("aria-label", `Play from ${formatTime(match.start)}. ${visual
      ? `Looks like ${match.text || "the picture"}` : describe(match)}`);
  }
  return make("li", {}, row);
}

/** What this signal alone says (relevance), the raw cosine in its tooltip; the score where there is no relevance. */
function matchScore(match) {
  const alone = match.relevance != null;
  return make("span", { className: "match-score", textContent: scoreText(alone ? match.relevance : match.score),
    title: alone ? `cosine ${scoreText(match.score)}` : "This signal's own score" });
}

/** Play one passage (or the moment): from its start, paused at its end. */
function playMatch(match) {
  const video = $("#v-video");
  const range = { start: match.start, end: Math.max(match.end ?? match.start, match.start + 0.5) };
  if (video.readyState >= 1) playRange(range);
  else viewer.startWith = range; // showVideo's loadedmetadata plays it
}

function showVideo(video, item) {
  const begin = () => {
    const range = viewer.startWith;
    viewer.startWith = null;
    range ? playRange(range) : playMoment();
  };
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
  const item = viewer.item;
  playRange(item && isVideoMoment(item) ? { start: item.start, end: item.end } : null);
}

/** Play from range.start and pause at range.end (null: play on from here). */
function playRange(range) {
  const video = $("#v-video"), item = viewer.item;
  if (!item || item.kind !== "video") return;
  viewer.guard = range;
  if (range) {
    video.currentTime = range.start;
    drawTimeline();
  }
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
  const video = $("#v-video");
  if (viewer.guard && viewer.item && video.currentTime >= viewer.guard.end) {
    video.pause();
    viewer.guard = null;
  }
}

function stopVideo() {
  const video = $("#v-video");
  cancelAnimationFrame(viewer.raf);
  viewer.guard = viewer.startWith = null;
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
  for (const mark of $("#track-marks").children) mark.style.left = pct(Number(mark.dataset.start));
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
  viewer.guard = null; // the user took over
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

/** A vote on the item shown: stored, then its buttons repainted (if it is still the one shown). */
async function voteShown(value) {
  const key = viewer.item.key;
  await vote(key, value);
  if (viewer.item?.key === key) paintVotes($("#viewer"), key);
}

/** ``callbacks.moreLike``: query.js's (which imports map.js, which imports this module), from app.js. */
export function wireViewer(callbacks) {
  const dialog = $("#viewer"), video = $("#v-video");
  on("#v-close", "click", () => dialog.close());
  on(dialog, "close", onViewerClosed);
  on(dialog, "keydown", onViewerKey);
  on(dialog, "click", (event) => { if (event.target === dialog) dialog.close(); }); // the backdrop
  on("#v-prev", "click", () => step(-1));
  on("#v-next", "click", () => step(1));
  on("#v-replay", "click", playMoment);
  on("#v-similar", "click", () => { const item = viewer.item; dialog.close(); callbacks.moreLike(item); });
  on("#v-near-list", "click", (event) => {
    const button = event.target.closest("button.dup");
    if (button) openViewer(nearItems(viewer.item), Number(button.dataset.near));
  });
  for (const button of $$(".vote", dialog)) on(button, "click", () => voteShown(button.dataset.vote));
  on(video, "timeupdate", () => { checkEnd(); drawTimeline(); });
  on(video, "play", watchEnd);
  on(video, "loadedmetadata", drawTimeline);
  on(video, "seeking", () => { // the user scrubbed out of the moment (or passage): stop guarding its end
    const guard = viewer.guard;
    if (guard && (video.currentTime > guard.end || video.currentTime < guard.start - 0.5)) viewer.guard = null;
  });
  on("#v-matches-list", "click", (event) => {
    const row = event.target.closest("button.match");
    if (row) playMatch(viewer.item.matches[Number(row.dataset.match)]);
  });
  on("#track", "pointerdown pointermove", onTrackPointer);
  on("#track", "keydown", (event) => {
    const delta = { ArrowLeft: -1, ArrowRight: 1, PageDown: -10, PageUp: 10 }[event.key];
    if (delta) { event.preventDefault(); seekTo(video.currentTime + delta); }
  });
}
