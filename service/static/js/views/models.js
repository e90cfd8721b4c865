// The model registry: each data set's default (shipped, or a job's), every trained job's model; promote,
// reset, export.
import {api, esc, pct, postJson} from "../api.js";

export const title = "Models";

const origin = (info) => (info.job_id === null ? "shipped with mnistlab" : `<a href="#/jobs/${info.job_id}">job ${info.job_id}</a>`);

export async function render(root) {
  const registry = await api("/models");
  root.innerHTML = `<div id="registry"><section class="wide"><h2>Default models</h2><p class="muted">What <code>/predict</code> and the
      protocol's <code>mnist</code> / <code>fashion-mnist</code> models serve.</p>
    <table id="defaults"><thead><tr><th>data set</th><th>model</th><th>from</th><th>epoch</th><th>test accuracy</th><th></th></tr></thead><tbody>
    ${Object.entries(registry.defaults).map(([dataset, info]) => `<tr data-dataset="${esc(dataset)}" data-job="${info.job_id ?? ""}">
      <td>${esc(dataset)}</td><td>${esc(info.model)}</td><td>${origin(info)}</td><td>${info.epoch}</td><td>${pct(info.test_accuracy)}</td>
      <td><a class="button" href="/models/${dataset}/export" download>Export ONNX</a>
      ${info.job_id === null ? "" : `<button type="button" class="reset" data-dataset="${esc(dataset)}">Back to the shipped model</button>`}</td></tr>`).join("")}
    </tbody></table><p id="models-message" role="status"></p></section>
    <section class="wide"><h2>Trained models</h2><table id="trained"><thead><tr><th>job</th><th>data set</th><th>model</th>
      <th>best epoch</th><th>test accuracy</th><th></th></tr></thead><tbody>
    ${registry.jobs.map((info) => `<tr data-job="${info.job_id}"><td><a href="#/jobs/${info.job_id}">${info.job_id}</a></td><td>${esc(info.dataset)}</td>
      <td>${esc(info.model)}</td><td>${info.epoch}</td><td>${pct(info.test_accuracy)}</td>
      <td><button type="button" class="promote" data-dataset="${esc(info.dataset)}" data-job="${info.job_id}">Make default</button>
      <a class="button" href="/jobs/${info.job_id}/export" download>Export ONNX</a></td></tr>`).join("") || `<tr><td colspan="6" class="muted">no succeeded job yet</td></tr>`}
    </tbody></table></section></div>`;
  root.querySelector("#registry").addEventListener("click", async (event) => {
    const button = event.target.closest("button.promote, button.reset");
    if (!button) return;
    const message = root.querySelector("#models-message");
    try {
      if (button.classList.contains("promote")) await postJson(`/models/${button.dataset.dataset}/default`, {job_id: Number(button.dataset.job)}, "PUT");
      else await api(`/models/${button.dataset.dataset}/default`, {method: "DELETE"});
      await render(root);
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });
}
