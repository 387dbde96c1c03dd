// Map view: a 2-D projection of the library on a canvas (the tabs that switch to it: views.js).

import { $, api, baseName, formatCount, on } from "./api.js";
import { openKey } from "./viewer.js";

export const mapState = { points: null, loading: false, zoom: 1, panX: 0, panY: 0, hover: null, drag: null,
  images: new Map(), highlight: new Set() };
const THUMB_LIMIT = 220; // draw thumbnails when at most this many points are on screen, else dots
const VIDEO_COLOR = "#e8793a";
export const MAP_HIGHLIGHT = 12; // the best matches of the current search are outlined on the map

export async function loadMap(force = false) {
  if ((mapState.points && !force) || mapState.loading) return;
  mapState.loading = true;
  $("#map-hint").textContent = "Loading the map…";
  try {
    const data = await api("/api/map?limit=1500");
    mapState.points = normalise(data.points || []);
    $("#map-hint").textContent = mapState.points.length
      ? `${formatCount(mapState.points.length, "item")}: similar ones sit close together. Scroll to zoom, drag to pan.`
      : "Nothing to map yet: index some photos or videos first.";
  } catch (err) {
    $("#map-hint").textContent = err.message;
  } finally {
    mapState.loading = false;
  }
  drawMap();
}

/** Stretch the projection to fill [-1, 1] on both axes: its units mean nothing, the screen space does. */
function normalise(points) {
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const fit = (v, lo, hi) => (hi > lo ? ((v - lo) / (hi - lo)) * 2 - 1 : 0);
  return points.map((p) => ({ ...p, x: fit(p.x, x0, x1), y: fit(p.y, y0, y1) }));
}

export function mapGeometry() {
  const canvas = $("#map");
  const width = canvas.clientWidth, height = canvas.clientHeight;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const margin = 56; // room for half a thumbnail at the edges
  const { zoom, panX, panY } = mapState;
  const sx = Math.max(10, width / 2 - margin) * zoom, sy = Math.max(10, height / 2 - margin) * zoom;
  return { width, height, ratio, sx, sy, cx: width / 2 + panX, cy: height / 2 + panY };
}

/** Screen position (CSS pixels) of a point; y grows upwards in the data. */
export function toScreen(point, geo) {
  return [geo.cx + point.x * geo.sx, geo.cy - point.y * geo.sy];
}

function mapImage(point) {
  let img = mapState.images.get(point.key);
  if (!img) {
    img = new Image();
    img.onload = () => scheduleMapDraw();
    img.src = point.thumbnail_url;
    mapState.images.set(point.key, img);
  }
  return img.complete && img.naturalWidth ? img : null;
}

/** drawImage cropped to fill the box without distortion (CSS object-fit: cover). */
function drawCover(ctx, img, x, y, w, h) {
  const scale = Math.max(w / img.naturalWidth, h / img.naturalHeight);
  const sw = w / scale, sh = h / scale;
  ctx.drawImage(img, (img.naturalWidth - sw) / 2, (img.naturalHeight - sh) / 2, sw, sh, x, y, w, h);
}

let mapFrame = 0;
export function scheduleMapDraw() {
  if (!mapFrame) mapFrame = requestAnimationFrame(() => { mapFrame = 0; drawMap(); });
}

export function drawMap() {
  if (!mapState.points || $("#map-view").hidden) return;
  const geo = mapGeometry();
  const ctx = $("#map").getContext("2d");
  const styles = getComputedStyle(document.documentElement);
  const accent = styles.getPropertyValue("--accent").trim(), muted = styles.getPropertyValue("--muted").trim();
  ctx.setTransform(geo.ratio, 0, 0, geo.ratio, 0, 0);
  ctx.clearRect(0, 0, geo.width, geo.height);
  const marked = (point) => mapState.highlight.has(point.key);
  const visible = mapState.points.map((p) => [p, ...toScreen(p, geo)])
    .filter(([, x, y]) => x > -40 && y > -40 && x < geo.width + 40 && y < geo.height + 40)
    .sort(([a], [b]) => marked(a) - marked(b)); // the current search's best matches on top
  const thumbs = visible.length <= THUMB_LIMIT;
  // Few points: big thumbnails; many: smaller ones, growing again as the user zooms in.
  const base = Math.min(96, 360 / Math.sqrt(visible.length || 1));
  const size = Math.min(120, Math.max(34, base * Math.sqrt(mapState.zoom)));
  let pictures = 0;
  for (const [point, x, y] of visible) {
    const img = thumbs ? mapImage(point) : null;
    if (img) {
      pictures += 1;
      drawCover(ctx, img, x - size / 2, y - size / 2, size, size * 0.75);
      ctx.lineWidth = marked(point) ? 3 : 1;
      ctx.strokeStyle = marked(point) ? accent : point.kind === "video" ? VIDEO_COLOR : "rgb(255 255 255 / 70%)";
      ctx.strokeRect(x - size / 2, y - size / 2, size, size * 0.75);
    } else {
      ctx.beginPath();
      ctx.arc(x, y, marked(point) ? 5 : 3.5, 0, Math.PI * 2);
      ctx.fillStyle = marked(point) ? accent : point.kind === "video" ? VIDEO_COLOR : muted;
      ctx.fill();
    }
  }
  mapState.thumbSize = thumbs ? size : 0;
  // What this drawing shows, in the DOM: thumbnails drawn as pictures (the others are dots until their
  // image has loaded and the map is drawn again). Tests wait on it rather than on the clock.
  Object.assign($("#map").dataset, { points: String(visible.length), pictures: String(pictures) });
}

export function pointAt(event) {
  if (!mapState.points) return null;
  const geo = mapGeometry();
  const rect = $("#map").getBoundingClientRect();
  const mx = event.clientX - rect.left, my = event.clientY - rect.top;
  const reach = mapState.thumbSize ? mapState.thumbSize / 2 : 8;
  let best = null, bestDist = Infinity;
  for (const point of mapState.points) {
    const [x, y] = toScreen(point, geo);
    const dist = Math.max(Math.abs(x - mx), Math.abs(y - my));
    if (dist <= reach && dist < bestDist) [best, bestDist] = [point, dist];
  }
  return best;
}

function onMapPointer(event) {
  const canvas = $("#map");
  if (event.type === "pointerdown") {
    canvas.setPointerCapture(event.pointerId);
    mapState.drag = { x: event.clientX, y: event.clientY, panX: mapState.panX, panY: mapState.panY, moved: false };
    return;
  }
  const drag = mapState.drag;
  if (event.type === "pointermove" && drag) {
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    if (drag.moved) {
      canvas.classList.add("dragging");
      mapState.panX = drag.panX + dx;
      mapState.panY = drag.panY + dy;
      $("#map-tip").hidden = true;
      scheduleMapDraw();
    }
    return;
  }
  if (event.type === "pointerup" && drag) {
    mapState.drag = null;
    canvas.classList.remove("dragging");
    const point = !drag.moved && pointAt(event);
    if (point) openKey(point.key); // a click, not a pan
    return;
  }
  if (event.type === "pointermove") showMapTip(event, pointAt(event));
  if (event.type === "pointerleave") showMapTip(event, null);
}

function showMapTip(event, point) {
  const tip = $("#map-tip");
  $("#map").classList.toggle("pointing", Boolean(point));
  tip.hidden = !point;
  if (!point) return;
  if (mapState.hover !== point.key) {
    $("#map-tip-img").src = point.thumbnail_url;
    $("#map-tip-label").textContent = baseName(point.path);
    mapState.hover = point.key;
  }
  const wrap = $("#map-wrap").getBoundingClientRect();
  const x = event.clientX - wrap.left, y = event.clientY - wrap.top;
  tip.style.left = `${Math.min(x + 14, wrap.width - 180)}px`;
  tip.style.top = `${Math.min(y + 14, wrap.height - 160)}px`;
}

function onMapWheel(event) {
  event.preventDefault();
  const rect = $("#map").getBoundingClientRect();
  const mx = event.clientX - rect.left - rect.width / 2, my = event.clientY - rect.top - rect.height / 2;
  const factor = Math.exp(-event.deltaY * 0.0015);
  const zoom = Math.min(40, Math.max(0.5, mapState.zoom * factor));
  const applied = zoom / mapState.zoom;
  // Keep the spot under the cursor where it is.
  mapState.panX = mx - (mx - mapState.panX) * applied;
  mapState.panY = my - (my - mapState.panY) * applied;
  mapState.zoom = zoom;
  scheduleMapDraw();
}

/** The map's pointer, wheel and reset (the tabs that show it: views.js). */
export function wireMap() {
  on("#map", "pointerdown pointermove pointerup pointerleave", onMapPointer);
  on("#map", "wheel", onMapWheel, { passive: false });
  on("#map-reset", "click", () => { Object.assign(mapState, { zoom: 1, panX: 0, panY: 0 }); drawMap(); });
}
