// Sweeps: start one (a grid or an Optuna search, as JSON), its leaderboard filling live, every trial's
// curve, accuracy against each varied setting, cancel, make the best the default.
import {api, esc, pct, postJson} from "../api.js";
import {COLORS, lineChart, scatter} from "../charts.js";
import * as live from "../live.js";

export const title = "Sweeps";
const EXAMPLE = `{"name": "SGD against Adam",
 "base": {"dataset": "mnist", "epochs": 3, "batch_size": 128, "seed": 0},
 "grid": {"optimizer": ["sgd", "adam"], "model": ["linear", "ffnn"]}}`;
const MAX_CURVES = 24;

const counts = (c) => Object.entries(c).map(([status, n]) => `${n} ${status}`).join(", ");

function sweepRow(sweep, shownId) {
  const best = sweep.leaderboard.find((row) => row.best_test_accuracy !== null);
  return `<tr class="sweep${sweep.id === shownId ? " selected" : ""}" data-id="${sweep.id}" data-status="${sweep.status}">
    <td><a href="#/sweeps/${sweep.id}">${sweep.id}</a></td><td>${esc(sweep.name)}</td><td>${sweep.status}</td>
    <td>${counts(sweep.counts)} of ${sweep.planned}</td><td>${best ? best.best_test_accuracy.toFixed(4) : ""}</td></tr>`;
}

export async function render(root, [id]) {
  const shownId = id ? Number(id) : null;
  root.innerHTML = `<section class="wide"><h2>Sweeps</h2><div class="row">
      <form id="sweep-form"><textarea id="sweep-body" rows="7" cols="62" spellcheck="false" aria-label="the sweep as JSON">${esc(EXAMPLE)}</textarea><br>
        <button type="submit">Start sweep</button> <span class="muted">a grid, or <code>"search": {...}</code> (see the README)</span>
        <div id="sweep-message" class="muted" role="status"></div></form>
      <table><thead><tr><th>id</th><th>name</th><th>status</th><th>trials</th><th>best</th></tr></thead><tbody id="sweeps"></tbody></table>
    </div></section><div id="sweep"></div>`;
  const sweeps = new Map();
  const drawList = () => {
    root.querySelector("#sweeps").innerHTML = [...sweeps.values()].sort((a, b) => b.id - a.id).map((s) => sweepRow(s, shownId)).join("");
  };
  root.querySelector("#sweeps").addEventListener("click", (event) => {
    const tr = event.target.closest("tr.sweep");
    if (tr && !event.target.closest("a")) location.hash = `#/sweeps/${tr.dataset.id}`;
  });
  root.querySelector("#sweep-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = root.querySelector("#sweep-message");
    try {
      const body = JSON.parse(root.querySelector("#sweep-body").value);
      const sweep = await postJson("/sweeps", body);
      message.className = "muted";
      message.textContent = `sweep ${sweep.id} started: ${sweep.planned} trials`;
      sweeps.set(sweep.id, sweep);
      location.hash = `#/sweeps/${sweep.id}`;
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });

  const detail = root.querySelector("#sweep");
  let curves = null, curveData = new Map();  // job id -> metrics
  async function drawSweep(sweep) {
    const best = sweep.leaderboard.find((row) => row.best_test_accuracy !== null);
    const dataset = sweep.request?.base?.dataset;
    const varied = [...new Set(sweep.leaderboard.flatMap((row) => Object.keys(row.params)))];
    detail.innerHTML = `<section class="wide"><h2>Sweep ${sweep.id}: ${esc(sweep.name)}</h2>
      <p><span id="sweep-status" data-status="${sweep.status}">${sweep.status}</span>: ${counts(sweep.counts)} of ${sweep.planned} trials
        ${sweep.status === "running" ? `<button id="cancel-sweep" type="button">Cancel</button>` : ""}
        ${best ? `<button id="promote-best" type="button">Make the best (job ${best.job_id}) the default</button>` : ""}</p>
      <p id="sweep-action" role="status"></p>
      <table><thead><tr><th>trial</th><th>job</th><th>settings</th><th>status</th><th>best test accuracy</th><th>epochs</th></tr></thead>
      <tbody id="leaderboard">${sweep.leaderboard.map((row) => `<tr class="trial" data-status="${row.status}" data-job="${row.job_id}">
        <td>${row.trial}</td><td><a href="#/jobs/${row.job_id}">${row.job_id}</a></td>
        <td>${Object.entries(row.params).map(([k, v]) => `${esc(k)}=${esc(typeof v === "object" ? JSON.stringify(v) : v)}`).join(", ")}</td>
        <td class="status-${row.status}" title="${esc(row.stopped_early || "")}">${row.status}</td>
        <td>${row.best_test_accuracy === null ? "" : row.best_test_accuracy.toFixed(4)}</td><td>${row.epochs_run}</td></tr>`).join("")}</tbody></table></section>
      <section class="wide"><h3>Every trial's test accuracy</h3><div id="trial-curves"></div></section>
      <section class="wide"><h3>Accuracy against each varied setting</h3><div id="by-setting" class="charts"></div></section>`;
    const points = sweep.leaderboard.filter((row) => row.best_test_accuracy !== null);
    for (const name of varied) {
      detail.querySelector("#by-setting").append(scatter({xLabel: name, points: points.map((row, i) => ({
        x: typeof row.params[name] === "object" ? JSON.stringify(row.params[name]) : row.params[name],
        y: row.best_test_accuracy, title: `trial ${row.trial} (job ${row.job_id}): ${pct(row.best_test_accuracy)}`}))}));
    }
    const chart = curves = lineChart({series: [], yLabel: "test accuracy", yFormat: (v) => `${+(100 * v).toFixed(2)}%`});
    detail.querySelector("#trial-curves").append(chart);
    const trials = sweep.leaderboard.slice(0, MAX_CURVES);
    // Fetched again while a trial runs or holds fewer epochs than the leaderboard counts: its epochs' events
    // may have come before its first fetch answered, which then saw none of them.
    await Promise.all(trials.filter((row) => row.status === "running" || (curveData.get(row.job_id)?.length ?? -1) < row.epochs_run)
      .map(async (row) => curveData.set(row.job_id, await api(`/jobs/${row.job_id}/metrics`))));
    drawCurves(chart, trials);  // this call's chart: a later call may have drawn a newer one meanwhile
    detail.querySelector("#cancel-sweep")?.addEventListener("click", () => act(() => postJson(`/sweeps/${sweep.id}/cancel`, {}).then(() => "cancelled")));
    detail.querySelector("#promote-best")?.addEventListener("click", async () => act(async () => {
      const job = await api(`/jobs/${best.job_id}`);
      await postJson(`/models/${dataset || job.dataset}/default`, {job_id: best.job_id}, "PUT");
      return `the ${job.dataset} default model is now job ${best.job_id}'s`;
    }));
  }
  function drawCurves(chart, trials) {
    chart.update(trials.filter((row) => curveData.has(row.job_id)).map((row, i) => ({
      name: `trial ${row.trial}`, color: COLORS[i % COLORS.length], dashed: row.status === "pruned",
      points: curveData.get(row.job_id).map((m) => [m.epoch, m.test_accuracy])})));
  }
  async function act(action) {
    const message = detail.querySelector("#sweep-action");
    try { message.className = "muted"; message.textContent = await action(); }
    catch (error) { message.className = "error"; message.textContent = error.message; }
  }

  const load = async () => {
    const listing = await api("/sweeps").catch(() => null);
    if (!listing) return;
    sweeps.clear();
    for (const sweep of listing) sweeps.set(sweep.id, sweep);
    drawList();
    if (shownId !== null) {
      const sweep = sweeps.get(shownId) || await api(`/sweeps/${shownId}`);
      await drawSweep(sweep);
    }
  };
  const off = live.readThenFollow(load, {
    sweep: (sweep) => { sweeps.set(sweep.id, sweep); drawList(); if (sweep.id === shownId) drawSweep(sweep); },
    epoch: (d) => {
      const sweep = sweeps.get(shownId);
      if (!curves || !sweep || !curveData.has(d.job_id)) return;
      const rows = curveData.get(d.job_id);
      if (!rows.some((m) => m.epoch === d.epoch)) rows.push(d);
      drawCurves(curves, sweep.leaderboard.slice(0, MAX_CURVES));
    },
  });
  if (shownId !== null && !live.isOpen()) await drawSweep(await api(`/sweeps/${shownId}`));  // else load() draws it
  return off;
}
