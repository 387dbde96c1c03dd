// framefind web UI, the parts every view shares: DOM helpers, the one `state` object, talking to the
// server, small formatting helpers and the toast.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
/** addEventListener for one element (or selector) and one or more space-separated event types. */
export const on = (target, types, handler, options) => {
  const node = typeof target === "string" ? $(target) : target;
  for (const type of types.split(" ")) node.addEventListener(type, handler, options);
};
/** A new element: make("button", {className: "btn", textContent: "Go"}, ...children). */
export const make = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** An icon from the page's sprite (index.html): <svg class="icon"><use href="#i-NAME"/></svg>. */
export function icon(name, className = "icon") {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export const PAGE = 48; // results per request; "Show more" asks for the next PAGE
const MEDIA_EXT = {
  image: /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i,
  video: /\.(mp4|m4v|webm|mov|mkv|avi|mpe?g|ogv|3gp|wmv)$/i,
};

export const state = {
  mode: null, // "text" | "image" | "video" | "similar" | null (nothing asked yet)
  text: "",
  example: null, // {file, name, kind, url, box: [x, y, w, h] | null}
  similar: null, // {key, name, thumbnail_url}
  kind: "", // "" (both), "image" or "video"
  under: "", // folder filter, one of status.roots
  only: "", // match by one signal only: "" (every one), "visual", "speech", "text" or "metadata" (signals.js)
  weights: "", // fusion weights from the address bar ("visual=1,speech=2"): passed on as they are
  // filters.js; place: the names a result must be taken at (all of them: ["Lisbon"], ["Valencia", "Spain"]);
  // person: the named people a result must show (all of them; people.js)
  filters: { after: "", before: "", minDuration: "", maxDuration: "", minScore: "", label: "", labelMode: "only",
    place: [], person: [] },
  all: false, // show results under the query's relevance floor too ("Show closest anyway")
  readDates: true, // let the server read a date filter from the typed words ("cat 2019")
  readPlaces: true, // let the server read a place filter from the typed words ("tram in Lisbon")
  readPeople: true, // let the server read a person filter from the typed words ("Anna at the beach")
  // what the last search said about itself: {below_cutoff, nothing_matched, dates, places (and people), learned}
  answer: null,
  k: PAGE,
  results: [],
  status: null,
  feedback: new Map(), // "query\0key" -> "up" | "down", as stored by the server
};

// ---------------------------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------------------------

/** fetch JSON from our own server; throws Error(message) with the server's {"error"} text. */
export async function api(path, { method = "GET", json, body, signal } = {}) {
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

export const enc = encodeURIComponent; // result keys contain "@" and "-": always encode them in paths

// ---------------------------------------------------------------------------------------------
// Small formatting helpers
// ---------------------------------------------------------------------------------------------

export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
export const formatRange = (r) => `${formatTime(r.start)}–${formatTime(r.end)}`;
export const formatCount = (n, word) => `${(n ?? 0).toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
export const baseName = (path) => (path || "").split(/[\\/]/).pop();
export const isVideoMoment = (r) => r.kind === "video" && r.start != null && r.end != null;

export function mediaKind(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  if (MEDIA_EXT.image.test(file.name)) return "image";
  if (MEDIA_EXT.video.test(file.name)) return "video";
  return null;
}

let toastTimer = 0;
/** Take the toast away now (what it said no longer holds: the error was corrected or given up). */
export function hideToast() {
  clearTimeout(toastTimer);
  $("#toast").hidden = true;
}

export function toast(message, isError = false) {
  const box = $("#toast");
  box.textContent = message;
  box.classList.toggle("err", isError);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 5000 : 2200);
}
