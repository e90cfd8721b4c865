// One job: its settings and what reproduces it, live progress and curves, the metrics, the confusion
// matrix (click a cell for its images), the most confident mistakes, and what can be done with it.
import {api, esc, getSpec, pct, postJson} from "../api.js";
import {heatmap, lineChart} from "../charts.js";
import * as live from "../live.js";

export const title = "Job";
const ENDED = new Set(["succeeded", "failed", "cancelled", "pruned"]);
const NOT_SETTINGS = new Set(["id", "status", "created_at", "started_at", "finished_at", "error", "attempts", "ran_on",
  "worker_id", "progress", "latest", "best", "steps_per_epoch", "last_batch_size", "init_hash", "waiting_for",
  "stopped_early", "environment"]);

const describe = (value) => (value === null || value === undefined ? "" : typeof value === "object"
  ? Object.entries(value).filter(([, v]) => v !== null && v !== 0).map(([k, v]) => `${k} ${v}`).join(", ") || "none" : String(value));

// The settings to send again for "run again": what the job was given (nulls and derived fields dropped).
export function settingsOf(job) {
  return Object.fromEntries(Object.entries(job).filter(([key, value]) => !NOT_SETTINGS.has(key) && value !== null));
}

// Each example came with its image (?images=true): one request for all of them.
export function thumbnails(examples, names) {
  return examples.map((e) => `<figure class="thumb" data-index="${e.index}" data-true="${e.true_label}" data-predicted="${e.predicted_label}">
    <img src="data:image/png;base64,${e.image_png}" alt="test image ${e.index}" width="56" height="56">
    <figcaption>${esc(names[e.true_label])} &rarr; ${esc(names[e.predicted_label])}<br>${pct(e.confidence, 1)}</figcaption></figure>`).join("");
}

export async function render(root, [id]) {
  const jobId = Number(id);
  let job = await api(`/jobs/${jobId}`);
  let metrics = await api(`/jobs/${jobId}/metrics`);
  const spec = await getSpec();
  const names = spec.datasets.find((d) => d.name === job.dataset).class_names;
  root.innerHTML = `<section class="wide"><h2>Job ${jobId}: ${esc(job.model)} on ${esc(job.dataset)}, ${esc(job.optimizer)}</h2>
      <p id="job-status"></p><div class="actions" id="actions"></div><p id="action-message" role="status"></p></section>
    <section><h3>Settings</h3><table id="settings"></table><h3>What reproduces it</h3><table id="environment"></table></section>
    <section><h3>Curves</h3><div id="curves"></div></section>
    <section class="wide"><h3>Confusion matrix (test set)</h3><p class="muted">Rows are the true class, columns the
      prediction. Click a red cell for its images.</p><div id="confusion" class="muted">${job.best ? "evaluating..." : "after the first epoch"}</div>
      <div id="cell"></div></section>
    <section class="wide"><h3>First-layer filters</h3><div id="filters" class="filters muted">${job.best ? "loading..." : "after the first epoch"}</div></section>
    <section class="wide"><h3>Most confident mistakes</h3><div id="mistakes" class="thumbs"></div></section>
    <section class="wide"><h3>Epochs</h3><table><thead><tr><th>epoch</th><th>loss</th><th>train accuracy</th>
      <th>test accuracy</th><th>seconds</th></tr></thead><tbody id="metrics"></tbody></table></section>`;
  const $ = (sel) => root.querySelector(sel);

  const loss = lineChart({series: [], yLabel: "loss", title: "training loss"});
  const accuracy = lineChart({series: [], yLabel: "accuracy", title: "accuracy", yFormat: (v) => `${+(100 * v).toFixed(2)}%`});
  $("#curves").append(loss, accuracy);

  function drawMetrics() {
    loss.update([{name: "loss", points: metrics.map((m) => [m.epoch, m.loss])}]);
    accuracy.update([{name: "train", points: metrics.map((m) => [m.epoch, m.train_accuracy])},
                     {name: "test", points: metrics.map((m) => [m.epoch, m.test_accuracy])}]);
    $("#metrics").innerHTML = metrics.map((m) => `<tr><td>${m.epoch}</td><td>${m.loss.toFixed(4)}</td>
      <td>${m.train_accuracy.toFixed(4)}</td><td>${m.test_accuracy.toFixed(4)}</td><td>${m.seconds.toFixed(2)}</td></tr>`).join("");
  }

  function drawJob() {
    const best = job.best ? `, best ${pct(job.best.test_accuracy)} at epoch ${job.best.epoch}` : "";
    const why = job.error || job.waiting_for || job.stopped_early || "";
    $("#job-status").innerHTML = `<span class="status-${job.status}" id="status" data-status="${job.status}">${job.status}</span>
      <progress max="1" value="${job.progress.fraction}"></progress> epoch ${job.progress.epoch} of ${job.epochs}${best}
      ${why ? `<br><span class="muted">${esc(why)}</span>` : ""}`;
    const settings = settingsOf(job);
    $("#settings").innerHTML = Object.entries(settings).map(([k, v]) => `<tr><th>${esc(k.replace(/_/g, " "))}</th><td>${esc(describe(v))}</td></tr>`).join("");
    const env = job.environment || {};
    $("#environment").innerHTML = [["seed", job.seed], ["initial weights", job.init_hash], ["ran on", job.ran_on],
      ...Object.entries(env)].map(([k, v]) => `<tr><th>${esc(k.replace(/_/g, " "))}</th><td><code>${esc(v ?? "not yet")}</code></td></tr>`).join("");
    const running = !ENDED.has(job.status), trained = job.best !== null;
    $("#actions").innerHTML = [
      running ? `<button id="cancel" type="button">Cancel</button>` : "",
      trained ? `<a class="button" id="download" href="/jobs/${jobId}/checkpoint" download>Download checkpoint</a>` : "",
      trained ? `<a class="button" id="export" href="/jobs/${jobId}/export" download>Export ONNX</a>` : "",
      job.status === "succeeded" ? `<button id="promote" type="button">Make it the ${esc(job.dataset)} default</button>` : "",
      `<button id="again" type="button">Run again</button>`].join(" ");
  }

  async function act(action) {
    const message = $("#action-message");
    try {
      message.className = "muted";
      message.textContent = await action();
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  }
  $("#actions").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.id === "cancel") act(async () => { job = await postJson(`/jobs/${jobId}/cancel`, {}); drawJob(); return "cancelled"; });
    if (button.id === "promote") act(async () => { await postJson(`/models/${job.dataset}/default`, {job_id: jobId}, "PUT"); return `the ${job.dataset} default model is now job ${jobId}'s`; });
    if (button.id === "again") act(async () => { const copy = await postJson("/jobs", settingsOf(job)); location.hash = `#/jobs/${copy.id}`; return ""; });
  });

  async function showCell(t, p, count) {
    const cell = $("#cell");
    cell.innerHTML = `<p class="muted">loading ${count} images...</p>`;
    try {
      const answer = await api(`/jobs/${jobId}/misclassified?true_label=${t}&predicted_label=${p}&limit=${count}&images=true`);
      cell.innerHTML = `<h4 id="cell-title">${answer.count} test images of ${esc(names[t])} taken for ${esc(names[p])}</h4>
        <div class="thumbs" id="cell-images">${thumbnails(answer.examples, names)}</div>`;
    } catch (error) {
      cell.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  }

  let evaluatedAt = null;  // the best epoch the matrix shows
  async function drawAnalysis() {
    if (!job.best || evaluatedAt === job.best.epoch) return;
    evaluatedAt = job.best.epoch;
    try {
      const [confusion, mistakes] = await Promise.all([api(`/jobs/${jobId}/confusion`), api(`/jobs/${jobId}/misclassified?limit=24&images=true`)]);
      $("#confusion").className = "";
      $("#confusion").replaceChildren(heatmap(confusion.matrix, confusion.class_names, showCell));
      $("#confusion").insertAdjacentHTML("beforeend", `<p>accuracy ${pct(confusion.accuracy)} (epoch ${confusion.model.epoch},
        ${mistakes.count} mistakes of ${mistakes.test_images})</p>`);
      $("#mistakes").innerHTML = thumbnails(mistakes.examples, names);
      const filters = await api(`/jobs/${jobId}/filters`);
      const what = {convolution: `the ${filters.shape[0]} kernels (${filters.shape[1]} x ${filters.shape[2]}) of its first convolution`,
        class_templates: "its ten class templates: the weights each class gives each pixel (0 to 9, left to right)",
        unit_templates: `the weights of the first ${filters.shape[0]} hidden units, as images`}[filters.kind];
      $("#filters").className = "filters";
      $("#filters").innerHTML = `<p class="muted">${esc(what)} (${esc(filters.layer)}); red positive, blue negative.</p>
        <img id="filters-image" data-kind="${filters.kind}" data-count="${filters.shape[0]}" src="data:image/png;base64,${filters.png}" alt="first-layer filters">`;
    } catch (error) {
      $("#confusion").className = "error";
      $("#confusion").textContent = error.message;
    }
  }

  drawJob(); drawMetrics(); drawAnalysis();
  const mine = (handler) => (data) => { if (data.job_id === jobId) handler(data); };
  const reread = async () => { job = await api(`/jobs/${jobId}`); metrics = await api(`/jobs/${jobId}/metrics`); drawJob(); drawMetrics(); drawAnalysis(); };
  return live.readThenFollow(reread, {
    progress: mine((d) => {
      job.status = d.status; job.waiting_for = null;
      job.progress = {...job.progress, epoch: d.epoch, fraction: Math.min(1, (d.epoch + d.fraction) / d.epochs)};
      drawJob();
    }),
    epoch: mine((d) => {
      if (!metrics.some((m) => m.epoch === d.epoch)) metrics.push(d);
      metrics.sort((a, b) => a.epoch - b.epoch);
      if (!job.best || d.test_accuracy > job.best.test_accuracy) job.best = {epoch: d.epoch, test_accuracy: d.test_accuracy};
      drawMetrics(); drawJob();
    }),
    status: mine(async () => { job = await api(`/jobs/${jobId}`); drawJob(); drawAnalysis(); }),
  });  // read again once subscribed: an epoch that landed since the read above is not lost
}
