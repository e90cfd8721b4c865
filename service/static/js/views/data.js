// A data set: its sizes, the share of each class, and its images, class by class, page by page. The
// class, split and page are in the URL (#/data/mnist?label=3&split=test&offset=48).
import {api, esc, getSpec, pct} from "../api.js";
import {barChart} from "../charts.js";

export const title = "Data";
const PAGE = 48;
const imageUrl = (dataset, index, split) => `/datasets/${dataset}/images/${index}.png?split=${split}`;

export async function render(root, [name = "mnist"], query) {
  const spec = await getSpec();
  const info = await api(`/datasets/${encodeURIComponent(name)}`);
  const label = query.get("label") ?? "0", split = query.get("split") ?? "train", offset = Number(query.get("offset") || 0);
  const go = (changes) => {
    const next = new URLSearchParams({label, split, offset, ...changes});
    location.hash = `#/data/${name}?${next}`;
  };
  const tabs = spec.datasets.map((d) => `<a href="#/data/${d.name}"${d.name === name ? ' aria-current="page"' : ""}>${esc(d.name)}</a>`).join(" ");
  root.innerHTML = `<section class="wide"><h2>Data: ${esc(name)}</h2><p class="tabs">${tabs}</p>
    ${info.on_disk ? "" : `<p class="error">${esc(name)} is not on disk: import it with <code>mnistlab datasets import DIR</code></p>`}</section>
    <section><h3>Sizes</h3><table id="sizes"><tr><th>split</th><th>images</th></tr>
      <tr><td>train</td><td>${info.train ? info.train.count.toLocaleString() : ""}</td></tr>
      <tr><td>test</td><td>${info.test ? info.test.count.toLocaleString() : ""}</td></tr></table>
      <h3>Share of each class (train)</h3><div id="shares"></div></section>
    <section><h3>Images</h3><label>class <select id="label">${info.class_names.map((c, i) => `<option value="${i}"${String(i) === label ? " selected" : ""}>${i}: ${esc(c)}</option>`).join("")}</select></label>
      <label>split <select id="split">${["train", "test"].map((s) => `<option${s === split ? " selected" : ""}>${s}</option>`).join("")}</select></label>
      <p><button id="previous" type="button">&larr; previous</button> <span id="page" class="muted"></span>
        <button id="next" type="button">next &rarr;</button></p><div id="samples" class="thumbs"></div></section>`;
  if (!info.on_disk) return;
  root.querySelector("#shares").append(barChart(info.class_names, info.train.label_proportions, (v) => pct(v, 1)));
  root.querySelector("#label").addEventListener("change", (event) => go({label: event.target.value, offset: 0}));
  root.querySelector("#split").addEventListener("change", (event) => go({split: event.target.value, offset: 0}));
  const samples = root.querySelector("#samples");
  try {
    const listing = await api(`/datasets/${name}/images?split=${encodeURIComponent(split)}&label=${encodeURIComponent(label)}&offset=${offset}&limit=${PAGE}`);
    root.querySelector("#page").textContent = `${offset + 1}-${offset + listing.indices.length} of ${listing.count.toLocaleString()} ${info.class_names[label]} images`;
    samples.innerHTML = listing.indices.map((index) =>
      `<img src="${imageUrl(name, index, split)}" alt="${split} image ${index}" title="${split} image ${index}" width="56" height="56">`).join("");
    root.querySelector("#next").disabled = offset + PAGE >= listing.count;
    root.querySelector("#previous").disabled = offset === 0;
    root.querySelector("#next").addEventListener("click", () => go({offset: offset + PAGE}));
    root.querySelector("#previous").addEventListener("click", () => go({offset: Math.max(0, offset - PAGE)}));
  } catch (error) {
    samples.innerHTML = `<p class="error" role="alert">${esc(error.message)}</p>`;
  }
}
