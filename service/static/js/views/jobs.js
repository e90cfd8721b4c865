// The jobs: start one (the form from /spec), follow them live, pick some to compare.
import {api, esc, getSpec} from "../api.js";
import {buildJobForm} from "../jobform.js";
import * as live from "../live.js";

export const title = "Jobs";

function row(job, checked) {
  const accuracy = job.latest ? job.latest.test_accuracy.toFixed(4) : "";
  const knobs = job.lr_schedule && job.lr_schedule !== "constant" ? `, ${job.lr_schedule}` : "";
  return `<tr class="job" data-id="${job.id}" data-status="${job.status}">
    <td><input type="checkbox" class="pick" value="${job.id}" aria-label="compare job ${job.id}"${checked ? " checked" : ""}></td>
    <td><a href="#/jobs/${job.id}">${job.id}</a></td><td>${esc(job.dataset)}</td><td>${esc(job.model)}</td>
    <td>${esc(job.optimizer)} ${job.lr}${esc(knobs)}</td><td>${job.epochs}</td>
    <td class="status-${job.status}" title="${esc(job.error || job.waiting_for || job.stopped_early || "")}">${job.status}</td>
    <td><progress max="1" value="${job.progress.fraction}"></progress></td><td>${accuracy}</td></tr>`;
}

export async function render(root) {
  root.innerHTML = `<section class="wide"><h2>New training job</h2><form id="job-form" novalidate></form></section>
    <section class="wide"><h2>Jobs</h2>
      <table><thead><tr><th>compare</th><th>id</th><th>data set</th><th>model</th><th>optimizer</th><th>epochs</th>
        <th>status</th><th>progress</th><th>test accuracy</th></tr></thead><tbody id="jobs"></tbody></table>
      <p><button id="compare" type="button">Compare selected</button>
        <span class="muted">Click a job's id for its page: curves, confusion matrix, mistakes.</span></p></section>`;
  const jobs = new Map();
  const picked = new Set();
  const tbody = root.querySelector("#jobs");
  const draw = () => {
    tbody.innerHTML = [...jobs.values()].sort((a, b) => b.id - a.id).slice(0, 50).map((job) => row(job, picked.has(job.id))).join("");
  };
  tbody.addEventListener("change", (event) => {
    if (!event.target.classList.contains("pick")) return;
    const id = Number(event.target.value);
    event.target.checked ? picked.add(id) : picked.delete(id);
  });
  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr.job");
    if (tr && !event.target.closest("input, a")) location.hash = `#/jobs/${tr.dataset.id}`;
  });
  root.querySelector("#compare").addEventListener("click", () => {
    if (picked.size) location.hash = `#/compare/${[...picked].sort((a, b) => a - b).join(",")}`;
  });

  const load = async () => {
    const listing = await api("/jobs?limit=50").catch(() => null);
    if (!listing) return;
    jobs.clear();
    for (const job of listing.jobs) jobs.set(job.id, job);
    draw();
  };
  const update = (id, change) => { const job = jobs.get(id); if (job) { change(job); draw(); } };
  const off = live.readThenFollow(load, {
    created: (job) => { jobs.set(job.id, job); draw(); },
    progress: (d) => update(d.job_id, (job) => {
      job.status = d.status; job.waiting_for = null;
      job.progress = {...job.progress, epoch: d.epoch, fraction: Math.min(1, (d.epoch + d.fraction) / d.epochs)};
    }),
    epoch: (d) => update(d.job_id, (job) => { job.latest = d; }),
    status: (d) => update(d.job_id, (job) => {
      job.status = d.status; job.error = d.error;
      if (d.status === "succeeded") job.progress = {...job.progress, fraction: 1};
    }),
  });
  buildJobForm(root.querySelector("#job-form"), await getSpec(), {onCreated: (job) => { jobs.set(job.id, job); draw(); }});
  return off;
}
