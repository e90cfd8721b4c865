// Runs side by side: their curves overlaid, only the settings that differ, each one's best epoch.
import {api, esc, pct} from "../api.js";
import {COLORS, lineChart} from "../charts.js";
import {settingsOf} from "./job.js";

export const title = "Compare";

const shown = (value) => (value === null || value === undefined ? "n/a" : typeof value === "object" ? JSON.stringify(value) : String(value));

export async function render(root, [ids = ""]) {
  if (!ids) {
    root.innerHTML = `<section class="wide"><h2>Compare</h2><p>Tick two or more jobs in <a href="#/jobs">the jobs table</a>, then
      <b>Compare selected</b>.</p></section>`;
    return;
  }
  const comparison = await api(`/compare?jobs=${encodeURIComponent(ids)}`);
  const jobs = await Promise.all(comparison.jobs.map((s) => api(`/jobs/${s.job_id}`)));
  const settings = jobs.map(settingsOf);
  const keys = [...new Set(settings.flatMap(Object.keys))];
  const differing = keys.filter((key) => new Set(settings.map((s) => shown(s[key]))).size > 1);
  const same = keys.filter((key) => !differing.includes(key));
  const label = (job) => `job ${job.id}`;
  root.innerHTML = `<section class="wide"><h2>Compare jobs ${comparison.jobs.map((s) => `<a href="#/jobs/${s.job_id}">${s.job_id}</a>`).join(", ")}</h2>
      <p class="muted">${comparison.same_initial_weights ? "Same initial weights." : "Different initial weights."}
        The same in all: ${same.map((k) => `${esc(k)} ${esc(shown(settings[0][k]))}`).join(", ") || "nothing"}.</p>
      <table id="differences"><thead><tr><th>setting</th>${jobs.map((j, i) => `<th style="color:${COLORS[i % COLORS.length]}">${label(j)}</th>`).join("")}</tr></thead>
      <tbody>${differing.map((key) => `<tr data-setting="${esc(key)}"><th>${esc(key.replace(/_/g, " "))}</th>${settings.map((s) => `<td>${esc(shown(s[key]))}</td>`).join("")}</tr>`).join("")}
      <tr class="best"><th>best epoch</th>${jobs.map((j) => `<td>${j.best ? j.best.epoch : ""}</td>`).join("")}</tr>
      <tr class="best"><th>best test accuracy</th>${jobs.map((j) => `<td>${j.best ? pct(j.best.test_accuracy) : ""}</td>`).join("")}</tr>
      </tbody></table></section><section class="wide" id="curves"></section>`;
  const series = (field) => comparison.jobs.map((s, i) => ({name: label(jobs[i]), points: s.metrics.map((m) => [m.epoch, m[field]])}));
  root.querySelector("#curves").append(
    lineChart({series: series("test_accuracy"), yLabel: "test accuracy", title: "test accuracy", yFormat: (v) => `${+(100 * v).toFixed(2)}%`}),
    lineChart({series: series("loss"), yLabel: "loss", title: "training loss"}));
}
