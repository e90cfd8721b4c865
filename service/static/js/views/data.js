// A data set: its sizes, the share of each class, and its images, class by class, page by page.
import {api, esc, getSpec, pct} from "../api.js";
import {barChart} from "../charts.js";
import {imageUrl} from "./job.js";

export const title = "Data";
const PAGE = 48;

export async function render(root, [name = "mnist"]) {
  const spec = await getSpec();
  const info = await api(`/datasets/${encodeURIComponent(name)}`);
  const tabs = spec.datasets.map((d) => `<a href="#/data/${d.name}"${d.name === name ? ' aria-current="page"' : ""}>${esc(d.name)}</a>`).join(" ");
  root.innerHTML = `<section class="wide"><h2>Data: ${esc(name)}</h2><p class="tabs">${tabs}</p>
    ${info.on_disk ? "" : `<p class="error">${esc(name)} is not on disk: import it with <code>mnistlab datasets import DIR</code></p>`}</section>
    <section><h3>Sizes</h3><table id="sizes"><tr><th>split</th><th>images</th></tr>
      <tr><td>train</td><td>${info.train ? info.train.count.toLocaleString() : ""}</td></tr>
      <tr><td>test</td><td>${info.test ? info.test.count.toLocaleString() : ""}</td></tr></table>
      <h3>Share of each class (train)</h3><div id="shares"></div></section>
    <section><h3>Images</h3><label>class <select id="label">${info.class_names.map((c, i) => `<option value="${i}">${i}: ${esc(c)}</option>`).join("")}</select></label>
      <label>split <select id="split"><option>train</option><option>test</option></select></label>
      <p><button id="previous" type="button">&larr; previous</button> <span id="page" class="muted"></span>
        <button id="next" type="button">next &rarr;</button></p><div id="samples" class="thumbs"></div></section>`;
  if (!info.on_disk) return;
  root.querySelector("#shares").append(barChart(info.class_names, info.train.label_proportions, (v) => pct(v, 1)));
  let offset = 0, count = 0;
  async function page() {
    const label = root.querySelector("#label").value, split = root.querySelector("#split").value;
    const listing = await api(`/datasets/${name}/images?split=${split}&label=${label}&offset=${offset}&limit=${PAGE}`);
    count = listing.count;
    root.querySelector("#page").textContent = `${offset + 1}-${offset + listing.indices.length} of ${count.toLocaleString()} ${info.class_names[label]} images`;
    root.querySelector("#samples").innerHTML = listing.indices.map((index) =>
      `<img src="${imageUrl(name, index, split)}" alt="${split} image ${index}" title="${split} image ${index}" width="56" height="56">`).join("");
  }
  root.querySelector("#label").addEventListener("change", () => { offset = 0; page(); });
  root.querySelector("#split").addEventListener("change", () => { offset = 0; page(); });
  root.querySelector("#next").addEventListener("click", () => { if (offset + PAGE < count) { offset += PAGE; page(); } });
  root.querySelector("#previous").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); page(); });
  await page();
}
