"""The ``framefind eval`` report: JSON, and one self-contained HTML file with inline SVG plots.

No plotting library and nothing fetched: the precision-recall curve, the per-class bars and the 2-D
map of the embeddings (PCA, thumbnails as data: URIs, a coloured frame per class) are SVG written here.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from framefind.eval.metrics import DEFINITIONS
from framefind.fsutil import atomic_write_text
from framefind.linalg import pca_2d
from framefind.media.files import open_image

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#ad494a", "#8ca252", "#bd9e39", "#7b4173", "#3182bd", "#e6550d", "#31a354"]
THUMBNAILS_ALL = 300  # up to this many points every one is a thumbnail; above, dots and a sample
THUMBNAIL_SAMPLE = 120
W, H, PAD = 640, 420, 48


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=True))


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _axes(x_label: str, y_label: str) -> list[str]:
    parts = [f'<rect x="{PAD}" y="{PAD // 2}" width="{W - 1.5 * PAD}" height="{H - 2 * PAD}" fill="none" '
             'stroke="#999"/>']
    for i in range(6):
        t = i / 5
        x, y = PAD + t * (W - 1.5 * PAD), H - 1.5 * PAD - t * (H - 2 * PAD)
        parts.append(f'<text x="{x:.1f}" y="{H - 1.5 * PAD + 16}" font-size="11" text-anchor="middle">{t:.1f}</text>')
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t:.1f}</text>')
        parts.append(f'<line x1="{PAD}" x2="{W - PAD / 2}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    parts.append(f'<text x="{W / 2}" y="{H - PAD / 2}" font-size="12" text-anchor="middle">{_esc(x_label)}</text>')
    parts.append(f'<text x="14" y="{H / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {H / 2})">{_esc(y_label)}</text>')
    return parts


def pr_curve_svg(rows: list[dict]) -> str:
    """Mean precision against mean recall at cut-offs 1..depth, one line per configuration."""
    parts = _axes("recall", "precision")
    sx, sy = W - 1.5 * PAD, H - 2 * PAD
    for n, row in enumerate(rows[: len(PALETTE)]):
        curve = row["pr_curve"]
        points = " ".join(f"{PAD + r * sx:.1f},{H - 1.5 * PAD - p * sy:.1f}"
                          for p, r in zip(curve["precision"], curve["recall"], strict=True))
        colour = PALETTE[n]
        parts.append(f'<polyline class="pr" points="{points}" fill="none" stroke="{colour}" stroke-width="1.8">'
                     f'<title>{_esc(row["config"])}</title></polyline>')
        parts.append(f'<text x="{W + 10}" y="{PAD + 14 * n}" font-size="11" fill="{colour}">'
                     f'{_esc(row["config"])}</text>')
    if len(rows) > len(PALETTE):
        parts.append(f'<text x="{W + 10}" y="{PAD + 14 * len(PALETTE)}" font-size="11">'
                     f'(first {len(PALETTE)} of {len(rows)} configurations)</text>')
    return _svg(parts, W + 320, H)


def group_bars_svg(row: dict, k: int) -> str:
    """Horizontal bars of map@k and mhr@k for each class (or golden query) of one configuration."""
    groups = list(row["per_group"].items())
    height, label_w, bar_w = 22 + 26 * len(groups), 260, W - 300
    parts = []
    for i, (name, values) in enumerate(groups):
        y = 18 + 26 * i
        short = name if len(name) <= 40 else name[:38] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end">{_esc(short)}</text>')
        for j, (key, colour) in enumerate(((f"map@{k}", PALETTE[0]), (f"mhr@{k}", PALETTE[1]))):
            value = values.get(key, 0.0)
            value = 0.0 if value is None or math.isnan(value) else value
            parts.append(f'<rect class="bar" x="{label_w}" y="{y + 11 * j}" width="{value * bar_w:.1f}" height="10" '
                         f'fill="{colour}"><title>{_esc(name)} {key} {value:.3f}</title></rect>')
            parts.append(f'<text x="{label_w + value * bar_w + 4:.1f}" y="{y + 11 * j + 9}" font-size="9">'
                         f'{value:.2f}</text>')
    parts.append(f'<text x="{label_w}" y="12" font-size="11" fill="{PALETTE[0]}">map@{k}</text>')
    parts.append(f'<text x="{label_w + 70}" y="12" font-size="11" fill="{PALETTE[1]}">mhr@{k}</text>')
    return _svg(parts, W, height)


def _thumbnail(path: str, size: int) -> str | None:
    from PIL import ImageOps

    try:
        with open_image(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((size, size))
            buffer = io.BytesIO()
            im.save(buffer, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - a video or unreadable file is drawn as a dot
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def embedding_map_svg(vectors: np.ndarray, labels: list[str | None], paths: list[str], seed: int = 0) -> str:
    """2-D PCA of the gallery: thumbnails framed in their class colour (dots plus a sample when many)."""
    if len(vectors) < 2:
        return ""
    xy = pca_2d(vectors)
    size, width, height = 36, 900, 640
    px = 20 + xy[:, 0] * (width - 40 - size)
    py = 20 + (1 - xy[:, 1]) * (height - 40 - size)
    classes = sorted({str(label) for label in labels})
    colour = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(classes)}
    if len(vectors) <= THUMBNAILS_ALL:
        pictured = set(range(len(vectors)))
    else:
        pictured = set(np.random.default_rng(seed).choice(len(vectors), THUMBNAIL_SAMPLE, replace=False).tolist())
    parts = []
    for i in range(len(vectors)):
        c = colour[str(labels[i])]
        if i not in pictured:
            parts.append(f'<circle cx="{px[i] + size / 2:.1f}" cy="{py[i] + size / 2:.1f}" r="3" fill="{c}" '
                         f'opacity="0.7"><title>{_esc(labels[i])}: {_esc(paths[i])}</title></circle>')
    for i in sorted(pictured):
        c, uri = colour[str(labels[i])], _thumbnail(paths[i], size)
        title = f"<title>{_esc(labels[i])}: {_esc(paths[i])}</title>"
        if uri is None:
            parts.append(f'<circle cx="{px[i] + size / 2:.1f}" cy="{py[i] + size / 2:.1f}" r="5" fill="{c}">'
                         f'{title}</circle>')
            continue
        parts.append(f'<g><image class="thumb" x="{px[i]:.1f}" y="{py[i]:.1f}" width="{size}" height="{size}" '
                     f'href="{uri}"/><rect x="{px[i]:.1f}" y="{py[i]:.1f}" width="{size}" height="{size}" '
                     f'fill="none" stroke="{c}" stroke-width="3"/>{title}</g>')
    legend = "".join(f'<span class="key" style="background:{colour[label]}"></span>{_esc(label)} &nbsp; '
                     for label in classes if label != "None")
    return _svg(parts, width, height) + (f"<p>{legend}</p>" if legend else "")


def _svg(parts: list[str], width: float, height: float) -> str:
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'style="font-family:sans-serif;background:#fff">{"".join(parts)}</svg>')


def _fmt(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4f}"
    return _esc(value)


def write_html(path: Path, data: dict, map_svg: str) -> None:
    k, rows = data["k"], data["rows"]
    keys = [f"{name}@{k}" for name in DEFINITIONS]
    head = ["configuration", *keys, "index bytes", "latency ms (p50)"]
    table = "".join(f"<th>{_esc(h)}</th>" for h in head)
    for row in rows:
        cells = [row["config"], *(row[key] for key in keys), row["index_bytes"], row["latency_ms_p50"]]
        table += "<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>"
    notes = "".join(f"<li>{_esc(n)}</li>" for n in data["notes"])
    defs = "".join(f"<tr><td>{_esc(name)}@{k}</td><td>{_esc(text)}</td></tr>" for name, text in DEFINITIONS.items())
    first = rows[0] if rows else None
    breakdown = ""
    if first:
        group_head = "".join(f"<th>{_esc(h)}</th>" for h in ["class / query", "queries", *keys])
        group_rows = "".join(
            "<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in [g, v["queries"], *(v[key] for key in keys)]) + "</tr>"
            for g, v in first["per_group"].items())
        breakdown = (f"<h2>Per {'class' if data['kind'] == 'classes' else 'query'}: {_esc(first['config'])}</h2>"
                     f"{group_bars_svg(first, k)}<table>{group_head}{group_rows}</table>")
    status = (f"<p class='warn'>Incomplete: {_esc(data['incomplete'])}. The rows below are what finished.</p>"
              if data.get("incomplete") else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>framefind eval: {_esc(data['dataset'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}} td:first-child{{text-align:left}}
.defs td{{text-align:left}}
.warn{{color:#b00}} .key{{display:inline-block;width:12px;height:12px;margin-right:4px}}</style></head><body>
<h1>framefind eval</h1>
<p>Dataset <code>{_esc(data['dataset'])}</code> ({_esc(data['split'])}): {data['gallery']} gallery items,
{data['queries']} queries, k = {k}, seed {data['seed']}, {_esc(data['created'])}.</p>{status}
<h2>Configurations</h2><table>{table}</table>
<h2>Precision-recall (mean over queries, cut-offs 1..{len(first['pr_curve']['recall']) if first else 0})</h2>
{pr_curve_svg(rows)}
{breakdown}
<h2>Embedding map (2-D PCA of the gallery, coloured by class)</h2>{map_svg}
<h2>Metrics</h2><table class="defs">{defs}</table>
<h2>Notes</h2><ul>{notes or '<li>none</li>'}</ul>
</body></html>
"""
    atomic_write_text(path, page)
