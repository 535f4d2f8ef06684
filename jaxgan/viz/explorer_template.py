"""The explorer page: one HTML file with inline CSS and JS, the results embedded as a JS object.

No external assets, no ``fetch``: the page works from ``file://`` and offline. The DOM the
script builds (what tests and users can rely on):

- ``#results a.result[data-id]``: one sidebar entry per result (kind, title); the current
  result is in ``location.hash`` (``#r0``).
- ``#facets .facet[data-facet=NAME]``: "Step k: choose NAME" with ``button.chip`` per value
  (``data-value``) and an ``all`` chip (``data-value=""``); a selected chip has class ``on``.
  Clicking a value while "all" is on selects only that value; more clicks add/remove values.
- ``img.thumb[data-image][data-facets]`` for every shown image (galleries, strips, tables,
  plots); ``#count`` says how many are shown.
- ``#details`` (class ``open`` when shown): ``#details-image``, ``#details-caption``,
  ``#details-facets tr[data-key] td.value``, ``#details-info`` (details key/values),
  ``#details-extra`` (extra images).
"""
from __future__ import annotations

import json
import math

_CSS = r"""
:root { --thumb: 128px; --fg: #1d232b; --muted: #67707c; --line: #d8dde3; --accent: #2f6fdd;
        --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
#app { display: grid; grid-template-columns: 250px 1fr; min-height: 100vh; }
#sidebar { background: #1f2630; color: #e8ecf1; padding: 12px; overflow-y: auto; max-height: 100vh;
           position: sticky; top: 0; }
#sidebar h1 { font-size: 17px; margin: 0 0 2px; }
#sidebar .meta { color: #9aa5b1; font-size: 12px; margin-bottom: 12px; }
#results a.result { display: block; color: #e8ecf1; text-decoration: none; padding: 6px 8px;
                    border-radius: 6px; margin-bottom: 2px; cursor: pointer; }
#results a.result:hover { background: #2c3542; }
#results a.result.current { background: var(--accent); }
#results .kind { display: inline-block; font-size: 11px; text-transform: uppercase;
                 letter-spacing: .04em; color: #b9c4d0; margin-right: 4px; }
#results a.current .kind { color: #e8ecf1; }
#results a.error .kind { color: #ff9b8f; }
#main { padding: 16px 24px; min-width: 0; }
#main h2 { margin: 0 0 4px; }
.source { color: var(--muted); font-size: 12px; }
.error-box { background: #fdeceb; color: #9b1c13; border: 1px solid #f3b8b2; padding: 10px;
             border-radius: 6px; white-space: pre-wrap; }
#facets { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px;
          margin: 12px 0; }
.facet { margin: 6px 0; display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.facet .label { font-weight: 600; margin-right: 6px; min-width: 190px; }
button.chip { border: 1px solid var(--line); background: #fff; border-radius: 14px; padding: 2px 10px;
              cursor: pointer; font: inherit; font-size: 13px; }
button.chip.on { background: var(--accent); color: #fff; border-color: var(--accent); }
.toolbar { display: flex; gap: 16px; align-items: center; color: var(--muted); font-size: 13px; }
.section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px;
           margin: 12px 0; overflow-x: auto; }
.section h3 { margin: 0 0 8px; font-size: 15px; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; width: calc(var(--thumb) + 8px); }
figure.wide { width: auto; max-width: 100%; }
figcaption { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
img.thumb { width: var(--thumb); height: var(--thumb); object-fit: contain; image-rendering: pixelated;
            border: 1px solid var(--line); background: #eee; cursor: zoom-in; display: block; }
img.plot { max-width: 100%; height: auto; image-rendering: auto; width: auto; cursor: zoom-in;
           border: 1px solid var(--line); }
table { border-collapse: collapse; }
table.data td, table.data th { border: 1px solid var(--line); padding: 3px 8px; text-align: left;
                               vertical-align: middle; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.strip td, table.strip th { padding: 2px 4px; text-align: center; }
table.strip th.rowlabel, table.strip td.rowlabel { text-align: right; font-size: 12px;
                                                   color: var(--muted); max-width: 160px; }
.caption { color: var(--muted); font-size: 12px; margin-top: 4px; }
pre { background: #f1f3f5; padding: 8px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
code { background: #f1f3f5; padding: 0 3px; border-radius: 3px; }
.empty { color: var(--muted); font-style: italic; }
#details { position: fixed; top: 0; right: 0; width: 400px; max-width: 100vw; height: 100vh;
           background: #fff; border-left: 1px solid var(--line); box-shadow: -4px 0 16px #0002;
           padding: 14px; overflow-y: auto; display: none; }
#details.open { display: block; }
#details img#details-image { width: 100%; image-rendering: pixelated; border: 1px solid var(--line); }
#details table { width: 100%; margin-top: 8px; table-layout: fixed; }
#details td:first-child { width: 40%; overflow-wrap: anywhere; }
#details td, #details th { border-bottom: 1px solid var(--line); padding: 3px 4px; text-align: left;
                           vertical-align: top; font-size: 13px; }
#details .close { float: right; }
#details-extra { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"""

_BODY = r"""
<div id="app">
  <nav id="sidebar">
    <h1>jaxgan explorer</h1>
    <div class="meta" id="meta"></div>
    <div id="results"></div>
  </nav>
  <main id="main"></main>
</div>
<aside id="details" aria-label="image details">
  <button class="chip close" id="details-close">close</button>
  <h3 id="details-caption"></h3>
  <img id="details-image" alt="">
  <div class="source" id="details-path"></div>
  <table id="details-facets"></table>
  <table id="details-info"></table>
  <div id="details-extra"></div>
</aside>
"""

_JS = r"""
"use strict";
const SEL = {};  // result id -> {facet: null (all) | Set of value keys}
const key = v => String(v);
function fmt(v) {
  if (typeof v === "number") {
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(4)));
  }
  if (v === null || v === undefined) return "";
  return String(v);
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function markdown(src) {
  const out = []; const lines = String(src).split("\n"); let i = 0;
  const inline = s => esc(s).replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>").replace(/\*([^*]+)\*/g, "<i>$1</i>");
  while (i < lines.length) {
    const l = lines[i];
    if (l.startsWith("```")) {
      const buf = []; i++;
      while (i < lines.length && !lines[i].startsWith("```")) buf.push(lines[i++]);
      i++; out.push("<pre>" + esc(buf.join("\n")) + "</pre>"); continue;
    }
    const h = /^(#{1,4})\s+(.*)$/.exec(l);
    if (h) { const n = h[1].length + 2; out.push(`<h${n}>${inline(h[2])}</h${n}>`); i++; continue; }
    if (/^\s*[-*]\s+/.test(l)) {
      const items = [];
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i])) items.push("<li>" + inline(lines[i++].replace(/^\s*[-*]\s+/, "")) + "</li>");
      out.push("<ul>" + items.join("") + "</ul>"); continue;
    }
    if (!l.trim()) { i++; continue; }
    const buf = [];
    while (i < lines.length && lines[i].trim() && !lines[i].startsWith("```") && !/^#{1,4}\s/.test(lines[i]) && !/^\s*[-*]\s+/.test(lines[i])) buf.push(lines[i++]);
    out.push("<p>" + inline(buf.join(" ")) + "</p>");
  }
  return out.join("\n");
}

// ---- facets
function facetsOf(r) {
  // -> [{name, values: [raw], numeric, axis}] in step order
  const vals = new Map(); const axes = new Set();
  const add = (name, v) => {
    if (!vals.has(name)) vals.set(name, new Map());
    vals.get(name).set(key(v), v);
  };
  const addAll = f => { for (const [k, v] of Object.entries(f || {})) add(k, v); };
  for (const s of r.sections) {
    if (s.type === "gallery") s.items.forEach(it => addAll(it.facets));
    if (s.type === "strip") {
      axes.add(s.axis);
      for (const row of s.rows) { addAll(row.facets); row.images.forEach(im => { addAll(im.facets); add(s.axis, im.value); }); }
    }
    if (s.type === "table") s.rows.forEach(row => { if (!Array.isArray(row)) addAll(row.facets); });
  }
  const declared = (r.facets || []).filter(n => vals.has(n));
  const rest = [...vals.keys()].filter(n => !declared.includes(n));
  const order = declared.concat(rest.filter(n => !axes.has(n)), rest.filter(n => axes.has(n)));
  return order.map(name => {
    const values = [...vals.get(name).values()];
    const numeric = values.every(v => typeof v === "number");
    values.sort(numeric ? (a, b) => a - b : (a, b) => key(a).localeCompare(key(b), undefined, {numeric: true}));
    return {name, values, numeric, axis: axes.has(name)};
  });
}
function selection(r) { return SEL[r.id] || (SEL[r.id] = {}); }
function matches(facets, sel) {
  for (const [name, set] of Object.entries(sel)) {
    if (set && facets && Object.prototype.hasOwnProperty.call(facets, name) && !set.has(key(facets[name]))) return false;
  }
  return true;
}
function toggle(r, name, value) {
  const sel = selection(r);
  if (value === "") { sel[name] = null; }
  else {
    const set = sel[name] ? new Set(sel[name]) : new Set();
    if (sel[name] && set.has(value)) set.delete(value); else set.add(value);
    sel[name] = set.size ? set : null;
  }
  renderResult(r);
}

// ---- images and details
function thumb(it, facets, cls) {
  const img = el("img", {class: cls || "thumb", src: it.image, alt: it.caption || "", loading: "lazy",
                         "data-image": it.image, "data-facets": JSON.stringify(facets || {})});
  img.addEventListener("click", () => showDetails(it, facets));
  return img;
}
function figure(it, facets) {
  return el("figure", {}, thumb(it, facets), it.caption ? el("figcaption", {text: it.caption}) : null);
}
function valueCell(v) {
  if (v !== null && typeof v === "object") {
    const t = el("table");
    for (const [k, x] of Object.entries(v)) t.append(el("tr", {}, el("td", {text: k}), el("td", {text: fmt(x)})));
    return el("td", {class: "value"}, t);
  }
  return el("td", {class: "value", text: fmt(v)});
}
function showDetails(it, facets) {
  const d = document.getElementById("details");
  document.getElementById("details-image").src = it.image;
  document.getElementById("details-image").setAttribute("data-image", it.image);
  document.getElementById("details-caption").textContent = it.caption || it.image.split("/").pop();
  document.getElementById("details-path").textContent = decodeURIComponent(it.image).replace(/^\.\.\//, "");
  const ft = document.getElementById("details-facets"); ft.replaceChildren();
  const fs = Object.entries(facets || {});
  if (fs.length) ft.append(el("tr", {}, el("th", {colspan: "2", text: "facets"})));
  for (const [k, v] of fs) ft.append(el("tr", {"data-key": k}, el("td", {text: k}), valueCell(v)));
  const info = document.getElementById("details-info"); info.replaceChildren();
  const ds = Object.entries(it.details || {});
  if (ds.length) info.append(el("tr", {}, el("th", {colspan: "2", text: "details"})));
  for (const [k, v] of ds) info.append(el("tr", {"data-key": k}, el("td", {text: k}), valueCell(v)));
  const ex = document.getElementById("details-extra"); ex.replaceChildren();
  for (const e of it.extra_images || []) {
    const img = el("img", {class: "thumb", src: e.image, "data-image": e.image, alt: e.caption || ""});
    ex.append(el("figure", {}, img, e.caption ? el("figcaption", {text: e.caption}) : null));
  }
  d.classList.add("open");
}

// ---- sections
function ticks(a, b) {
  // ~5 round tick values within [a, b]
  const raw = (b - a) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(st => st >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(a / step) * step; v <= b + 1e-9 * step; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}
function chartSVG(s) {
  const W = 640, H = 280, L = 56, R = 150, T = 10, B = 34;
  const pts = s.series.flatMap(se => se.x.map((x, i) => [x, se.y[i]]).filter(p => p[0] !== null && p[1] !== null));
  if (!pts.length) return "<p class='empty'>no data</p>";
  let [x0, x1] = [Math.min(...pts.map(p => p[0])), Math.max(...pts.map(p => p[0]))];
  let [y0, y1] = [Math.min(...pts.map(p => p[1])), Math.max(...pts.map(p => p[1]))];
  if (x1 === x0) { x0 -= 1; x1 += 1; } if (y1 === y0) { y0 -= 1; y1 += 1; }
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R), sy = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const colors = ["#2f6fdd", "#e4572e", "#29a37a", "#9b5de5", "#f0a202", "#4d5359", "#00a6a6", "#d7263d"];
  let svg = `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">`;
  svg += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fff" stroke="#ccc"/>`;
  for (const yv of ticks(y0, y1)) {
    svg += `<line x1="${L}" x2="${W - R}" y1="${sy(yv)}" y2="${sy(yv)}" stroke="#eee"/>`;
    svg += `<text x="${L - 4}" y="${sy(yv) + 4}" text-anchor="end">${esc(fmt(yv))}</text>`;
  }
  for (const xv of ticks(x0, x1)) svg += `<text x="${sx(xv)}" y="${H - B + 14}" text-anchor="middle">${esc(fmt(xv))}</text>`;
  svg += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">${esc(s.x_label || "")}</text>`;
  s.series.forEach((se, j) => {
    const c = colors[j % colors.length];
    const p = se.x.map((x, i) => [x, se.y[i]]).filter(q => q[0] !== null && q[1] !== null)
      .map(q => `${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}`).join(" ");
    svg += `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${p}"/>`;
    svg += `<rect x="${W - R + 10}" y="${T + 4 + 16 * j}" width="10" height="10" fill="${c}"/>`;
    svg += `<text x="${W - R + 24}" y="${T + 13 + 16 * j}">${esc(se.name)}</text>`;
  });
  return svg + "</svg>";
}
function renderSection(s, sel) {
  // -> [element, number of shown images]
  const box = el("div", {class: "section", "data-type": s.type});
  if (s.title) box.append(el("h3", {text: s.title}));
  let n = 0;
  if (s.type === "gallery") {
    const g = el("div", {class: "gallery"});
    for (const it of s.items) if (matches(it.facets, sel)) { g.append(figure(it, it.facets)); n++; }
    box.append(n ? g : el("p", {class: "empty", text: "no image matches the selection"}));
  } else if (s.type === "strip") {
    const axisSel = sel[s.axis];
    const cols = [...new Map(s.rows.flatMap(r => r.images.map(im => [key(im.value), im.value]))).values()]
      .sort((a, b) => a - b).filter(v => !axisSel || axisSel.has(key(v)));
    const t = el("table", {class: "strip", "data-axis": s.axis});
    t.append(el("tr", {}, el("th", {class: "rowlabel", text: s.axis}),
                ...cols.map(v => el("th", {"data-value": key(v), text: fmt(v)}))));
    for (const row of s.rows) {
      const cells = []; let shown = 0;
      for (const v of cols) {
        const im = row.images.find(x => key(x.value) === key(v));
        const f = Object.assign({}, row.facets || {}, (im && im.facets) || {}, {[s.axis]: v});
        if (im && matches(f, sel)) { cells.push(el("td", {}, thumb(im, f))); shown++; }
        else cells.push(el("td"));
      }
      if (shown) { t.append(el("tr", {}, el("td", {class: "rowlabel", text: row.label || ""}), ...cells)); n += shown; }
    }
    box.append(n ? t : el("p", {class: "empty", text: "no image matches the selection"}));
  } else if (s.type === "table") {
    const t = el("table", {class: "data"});
    t.append(el("tr", {}, ...s.columns.map(c => el("th", {text: c}))));
    for (const row of s.rows) {
      const cells = Array.isArray(row) ? row : row.cells;
      if (!Array.isArray(row) && !matches(row.facets, sel)) continue;
      t.append(el("tr", {}, ...cells.map(c => {
        if (c !== null && typeof c === "object") { n++; return el("td", {}, figure(c, row.facets)); }
        return el("td", {class: typeof c === "number" ? "num" : "", text: fmt(c)});
      })));
    }
    box.append(t);
    if (s.caption) box.append(el("div", {class: "caption", text: s.caption}));
  } else if (s.type === "plot") {
    box.append(el("figure", {class: "wide"}, thumb(s, {}, "plot"), s.caption ? el("figcaption", {text: s.caption}) : null));
    n++;
  } else if (s.type === "chart") {
    const d = el("div"); d.innerHTML = chartSVG(s); box.append(d);
  } else if (s.type === "text") {
    const d = el("div", {class: "text"}); d.innerHTML = markdown(s.text); box.append(d);
  }
  return [box, n];
}
function renderResult(r) {
  const main = document.getElementById("main"); main.replaceChildren();
  document.querySelectorAll("#results a.result").forEach(a => a.classList.toggle("current", a.dataset.id === r.id));
  main.append(el("h2", {text: r.title}), el("div", {class: "source", text: r.kind + " \u00b7 " + r.source}));
  if (r.error) { main.append(el("div", {class: "error-box", text: r.error})); return; }
  if (r.description) { const d = el("div"); d.innerHTML = markdown(r.description); main.append(d); }
  const sel = selection(r); const facets = facetsOf(r);
  if (facets.length) {
    const box = el("div", {id: "facets"});
    facets.forEach((f, i) => {
      const cur = sel[f.name];
      const row = el("div", {class: "facet", "data-facet": f.name},
        el("span", {class: "label", text: `Step ${i + 1}: choose ${f.name}`}),
        el("button", {class: "chip all" + (cur ? "" : " on"), "data-value": "", text: "all",
                      onclick: () => toggle(r, f.name, "")}));
      for (const v of f.values) {
        row.append(el("button", {class: "chip" + (cur && cur.has(key(v)) ? " on" : ""), "data-value": key(v),
                                 text: fmt(v), onclick: () => toggle(r, f.name, key(v))}));
      }
      box.append(row);
    });
    main.append(box);
  }
  const count = el("span", {id: "count"});
  const size = el("input", {type: "range", min: "32", max: "256", value: getComputedStyle(document.documentElement).getPropertyValue("--thumb").trim().replace("px", "") || "96",
                            oninput: e => document.documentElement.style.setProperty("--thumb", e.target.value + "px")});
  main.append(el("div", {class: "toolbar"}, count, el("label", {}, "thumbnail size ", size)));
  let total = 0;
  for (const s of r.sections) { const [box, n] = renderSection(s, sel); total += n; main.append(box); }
  if (!r.sections.length) main.append(el("p", {class: "empty", text: "this result has no sections"}));
  count.textContent = `${total} image(s) shown`;
  count.dataset.n = String(total);
}
function route() {
  const id = location.hash.slice(1);
  const r = DATA.results.find(x => x.id === id) || DATA.results[0];
  if (r) renderResult(r);
}
function init() {
  document.getElementById("meta").textContent = `${DATA.root} \u00b7 ${DATA.results.length} result(s) \u00b7 built ${DATA.generated}`;
  const list = document.getElementById("results");
  for (const r of DATA.results) {
    list.append(el("a", {class: "result" + (r.error ? " error" : ""), href: "#" + r.id, "data-id": r.id},
                       el("span", {class: "kind", text: r.kind}), r.title));
  }
  document.getElementById("details-close").addEventListener("click", () => document.getElementById("details").classList.remove("open"));
  document.addEventListener("keydown", e => { if (e.key === "Escape") document.getElementById("details").classList.remove("open"); });
  if (!DATA.results.length) {
    document.getElementById("main").append(el("h2", {text: "No results yet"}),
      el("p", {class: "empty", id: "empty-state",
               text: "Nothing to show in this folder: no explorer.json manifests, training runs or image folders were found. Run a jaxgan command with --out inside it, then build the explorer again."}));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
}
init();
"""


def render_page(data: dict) -> str:
    """The explorer HTML for ``data`` (``{"root", "generated", "results": [...]}``).

    Args:
      data: the page data; embedded as a JS object literal (``<`` escaped, so result text
        cannot close the script element).

    Returns:
      The complete HTML document.
    """
    blob = json.dumps(_finite(data), allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    blob = blob.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    title = "jaxgan explorer"
    return (f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>{_BODY}"
            f"<script>const DATA = {blob};</script>\n<script>{_JS}</script>\n</body>\n</html>\n")


def _finite(obj):
    """``obj`` with NaN/Inf floats replaced by ``None`` (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
