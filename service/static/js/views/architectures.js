// The models: each one's layers, output shapes and parameters (ffnn's hidden width adjustable).
import {api, esc} from "../api.js";

export const title = "Architectures";

export async function render(root, params, query) {
  const hidden = Number(query.get("hidden") || 128);
  const models = await api(`/architectures?hidden=${hidden}`);
  root.innerHTML = `<section class="wide"><h2>Architectures</h2><form id="hidden-form">
      <label>ffnn hidden width<input name="hidden" type="number" min="1" max="4096" value="${hidden}"></label>
      <button type="submit">Show</button></form></section>` +
    models.map((m) => {
      const total = m.layers.reduce((sum, layer) => sum + layer.parameters, 0);
      return `<section class="architecture" data-model="${esc(m.model)}"><h3>${esc(m.model)}${m.hidden ? ` (hidden ${m.hidden})` : ""}:
        <span class="parameters">${total.toLocaleString()}</span> parameters</h3>
        <table><thead><tr><th>#</th><th>layer</th><th>output shape</th><th>parameters</th></tr></thead><tbody>
        <tr><td></td><td>input</td><td>${m.input_shape.join(" x ")}</td><td></td></tr>
        ${m.layers.map((l) => `<tr><td>${l.index}</td><td><code>${esc(l.layer)}</code></td><td>${l.output_shape.join(" x ")}</td>
          <td>${l.parameters.toLocaleString()}</td></tr>`).join("")}</tbody></table></section>`;
    }).join("");
  root.querySelector("#hidden-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/architectures?hidden=${event.target.elements.hidden.value}`;
  });
}
