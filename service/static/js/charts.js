// Charts drawn in the page as SVG (no charting library: these few shapes weigh less than one).
import {esc} from "./api.js";

export const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
                       "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
const SVG = "http://www.w3.org/2000/svg";
const W = 560, H = 260, M = {left: 52, right: 12, top: 12, bottom: 34};

function ticks(low, high, count = 5) {
  if (low === high) return [low];
  const step = 10 ** Math.floor(Math.log10((high - low) / count));
  const nice = [1, 2, 5, 10].map((f) => f * step).find((s) => (high - low) / s <= count) || step * 10;
  const out = [];
  for (let t = Math.ceil(low / nice) * nice; t <= high + 1e-12; t += nice) out.push(+t.toPrecision(12));
  return out;
}

function scale(domain, range, log = false) {
  const [d0, d1] = log ? domain.map(Math.log10) : domain, [r0, r1] = range;
  const f = (v) => r0 + ((log ? Math.log10(v) : v) - d0) / ((d1 - d0) || 1) * (r1 - r0);
  return f;
}

const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : +v.toPrecision(4));

// Lines over epochs. series: [{name, color, points: [[x, y], ...]}]. Hovering shows every series' value at
// the nearest x. Each point is a <circle class="point">, so a new epoch is a new circle.
export function lineChart({series, xLabel = "epoch", yLabel = "", yFormat = fmt, title = ""}) {
  const box = document.createElement("figure");
  box.className = "chart";
  box.innerHTML = `${title ? `<figcaption>${esc(title)}</figcaption>` : ""}<svg viewBox="0 0 ${W} ${H}" role="img"
    aria-label="${esc(title || yLabel)}"></svg><div class="legend"></div><div class="tooltip" hidden></div>`;
  const svg = box.querySelector("svg"), tooltip = box.querySelector(".tooltip");
  let current = series;

  function draw() {
    const all = current.flatMap((s) => s.points);
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const x0 = Math.min(1, ...xs), x1 = Math.max(x0 + 1, ...xs);
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (!all.length) { y0 = 0; y1 = 1; }
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const sx = scale([x0, x1], [M.left, W - M.right]), sy = scale([y0, y1], [H - M.bottom, M.top]);
    const parts = [];
    for (const t of ticks(y0, y1)) {
      parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${sy(t)}" y2="${sy(t)}"/>`,
                 `<text class="tick" x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end">${esc(yFormat(t))}</text>`);
    }
    for (const t of ticks(x0, x1, 8).filter(Number.isInteger)) {
      parts.push(`<text class="tick" x="${sx(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${t}</text>`);
    }
    parts.push(`<text class="axis" x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>`,
               `<text class="axis" transform="translate(12 ${(H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
    current.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ""}/>`);
      for (const p of s.points) parts.push(`<circle class="point" data-series="${i}" cx="${sx(p[0])}" cy="${sy(p[1])}" r="2.5" fill="${color}"/>`);
    });
    parts.push(`<line class="cursor" y1="${M.top}" y2="${H - M.bottom}" hidden/>`,
               `<rect class="hover" x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="transparent"/>`);
    svg.innerHTML = parts.join("");
    box.querySelector(".legend").innerHTML = current.map((s, i) =>
      `<span><i style="background:${s.color || COLORS[i % COLORS.length]}"></i>${esc(s.name)}</span>`).join("");
    const cursor = svg.querySelector(".cursor");
    svg.querySelector(".hover").addEventListener("mousemove", (event) => {
      const rect = svg.getBoundingClientRect();
      const x = x0 + ((event.clientX - rect.left) * W / rect.width - M.left) / (W - M.left - M.right) * (x1 - x0);
      const nearest = xs.reduce((best, v) => (Math.abs(v - x) < Math.abs(best - x) ? v : best), xs[0]);
      if (nearest === undefined) return;
      cursor.setAttribute("x1", sx(nearest)); cursor.setAttribute("x2", sx(nearest)); cursor.hidden = false;
      const rows = current.map((s, i) => [s, i, s.points.find((p) => p[0] === nearest)]).filter(([, , p]) => p);
      tooltip.innerHTML = `<b>${esc(xLabel)} ${nearest}</b>` + rows.map(([s, i, p]) =>
        `<div><i style="background:${s.color || COLORS[i % COLORS.length]}"></i>${esc(s.name)}: ${esc(yFormat(p[1]))}</div>`).join("");
      tooltip.hidden = false;
      tooltip.style.left = `${(sx(nearest) / W) * 100}%`;
    });
    svg.querySelector(".hover").addEventListener("mouseleave", () => { tooltip.hidden = true; cursor.hidden = true; });
  }
  draw();
  box.update = (series) => { current = series; draw(); };
  return box;
}

// Horizontal bars: one per label, the value written beside it.
export function barChart(labels, values, format = (v) => v) {
  const max = Math.max(...values, 1e-12);
  const box = document.createElement("div");
  box.className = "bars";
  box.innerHTML = labels.map((label, i) => `<div class="bar-row"><span class="bar-label">${esc(label)}</span>
    <span class="bar" style="width:${(70 * values[i] / max).toFixed(2)}%"></span><span class="bar-value">${esc(format(values[i]))}</span></div>`).join("");
  return box;
}

// A confusion matrix as a table: rows true, columns predicted, shade by share of the row. Clicking an
// off-diagonal cell calls onCell(true, predicted, count).
export function heatmap(matrix, names, onCell) {
  const table = document.createElement("table");
  table.className = "confusion";
  const head = `<tr><th class="corner">true \\ predicted</th>${names.map((n) => `<th>${esc(n)}</th>`).join("")}<th>accuracy</th></tr>`;
  const rows = matrix.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const cells = row.map((count, p) => {
      const share = count / total, diagonal = t === p;
      const color = diagonal ? `rgba(22,163,74,${share})` : `rgba(220,38,38,${Math.min(1, share * 8)})`;
      const clickable = !diagonal && count > 0;
      return `<td class="cell${clickable ? " clickable" : ""}" data-true="${t}" data-predicted="${p}" data-count="${count}"
        style="background:${color};color:${share > 0.5 || (!diagonal && share > 0.06) ? "#fff" : "inherit"}"
        title="true ${esc(names[t])}, predicted ${esc(names[p])}: ${count}">${count}</td>`;
    }).join("");
    return `<tr><th>${esc(names[t])}</th>${cells}<td class="per-class">${(100 * row[t] / total).toFixed(1)}%</td></tr>`;
  }).join("");
  table.innerHTML = head + rows;
  table.addEventListener("click", (event) => {
    const cell = event.target.closest("td.clickable");
    if (cell) onCell(Number(cell.dataset.true), Number(cell.dataset.predicted), Number(cell.dataset.count));
  });
  return table;
}

// Points of (setting, accuracy): numbers on a linear or log axis, anything else as categories.
export function scatter({points, xLabel, yLabel = "best test accuracy", yFormat = fmt}) {
  const numeric = points.every((p) => typeof p.x === "number");
  const cats = numeric ? [] : [...new Set(points.map((p) => String(p.x)))];
  const xs = points.map((p) => p.x);
  const log = numeric && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) > 50;
  const ys = points.map((p) => p.y);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 0.01; y1 += 0.01; }
  const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
  const sy = scale([y0, y1], [H - M.bottom, M.top]);
  const sx = numeric
    ? scale([Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) * 1.01 + 1e-9 : Math.max(...xs)], [M.left + 10, W - M.right - 10], log)
    : (v) => M.left + (cats.indexOf(String(v)) + 0.5) * (W - M.left - M.right) / cats.length;
  const parts = ticks(y0, y1).map((t) => `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${sy(t)}" y2="${sy(t)}"/>
    <text class="tick" x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end">${esc(yFormat(t))}</text>`);
  const xticks = numeric ? [Math.min(...xs), Math.max(...xs)] : cats;
  for (const t of xticks) parts.push(`<text class="tick" x="${sx(numeric ? t : t)}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(numeric ? fmt(t) : t)}</text>`);
  parts.push(`<text class="axis" x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}${log ? " (log)" : ""}</text>`);
  for (const p of points) {
    parts.push(`<circle class="point" cx="${sx(p.x)}" cy="${sy(p.y)}" r="5" fill="${p.color || COLORS[0]}" fill-opacity=".75"><title>${esc(p.title || "")}</title></circle>`);
  }
  const box = document.createElement("figure");
  box.className = "chart";
  box.innerHTML = `<figcaption>${esc(yLabel)} against ${esc(xLabel)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img">${parts.join("")}</svg>`;
  return box;
}
