// The drawing board: draw a digit (black ink on white, like paper) or upload a photo, and one or two models
// answer while the stroke is still going: every class's probability, the 28x28 image each saw, where it
// looked (Integrated Gradients, Grad-CAM) and its feature maps. Each model has at most one request in
// flight: drawings made meanwhile are not queued, only the newest is sent when the answer is in.
import {api, esc, pct} from "../api.js";

export const title = "Draw";

function modelOptions(registry, preferred) {
  const defaults = Object.values(registry.defaults).map((info) =>
    `<option value="dataset=${info.dataset}"${`dataset=${info.dataset}` === preferred ? " selected" : ""}>${esc(info.dataset)} default (${esc(info.model)})</option>`);
  const jobs = registry.jobs.map((info) => `<option value="job_id=${info.job_id}"${`job_id=${info.job_id}` === preferred ? " selected" : ""}>job ${info.job_id}: ${esc(info.model)} on ${esc(info.dataset)} (${pct(info.test_accuracy)})</option>`);
  return defaults.join("") + jobs.join("");
}

function panelHtml(side, registry, preferred) {
  return `<section class="board-panel" id="panel-${side}" data-answers="0" aria-busy="false">
    <label>model <select class="model">${side === "b" ? '<option value="">none</option>' : ""}${modelOptions(registry, preferred)}</select></label>
    <div class="answer muted">Draw a digit, or upload an image.</div>
    <div class="row"><figure><img class="seen" alt="the 28x28 image the model saw" hidden><figcaption>what it saw</figcaption></figure>
      <figure><img class="heatmap" alt="where it looked (Integrated Gradients)" hidden><figcaption>Integrated Gradients</figcaption></figure>
      <figure><img class="gradcam" alt="where it looked (Grad-CAM)" hidden><figcaption>Grad-CAM</figcaption></figure></div>
    <div class="bars probabilities"></div><div class="feature-maps"></div></section>`;
}

// One model's side of the board.
function panel(root, side, getBlob) {
  const box = root.querySelector(`#panel-${side}`);
  let inFlight = false, wanted = false;
  const show = (result) => {
    const e = result.explanations[0];
    box.dataset.answers = Number(box.dataset.answers) + 1;
    box.dataset.label = e.class_name;
    box.querySelector(".answer").className = "answer";
    box.querySelector(".answer").innerHTML = `<b class="predicted">${esc(e.class_name)}</b> (${pct(e.confidence, 1)})
      <span class="muted">${esc(result.model.model)} on ${esc(result.model.dataset)}, ${result.model.job_id === null ? "shipped" : "job " + result.model.job_id}</span>`;
    const names = Object.keys(e.probabilities);
    box.querySelector(".probabilities").innerHTML = e.probabilities.map((p, i) => `<div class="bar-row${i === e.label ? " best" : ""}">
      <span class="bar-label">${esc(result.classNames[i] ?? names[i])}</span><span class="bar" style="width:${(70 * p).toFixed(1)}%"></span>
      <span class="bar-value">${pct(p, 1)}</span></div>`).join("");
    const picture = (selector, png) => { const img = box.querySelector(selector); img.hidden = !png; if (png) img.src = `data:image/png;base64,${png}`; };
    picture(".seen", e.image_png);
    picture(".heatmap", e.attributions.integrated_gradients?.overlay_png);
    picture(".gradcam", e.attributions.grad_cam?.overlay_png);
    box.querySelector(".gradcam").closest("figure").hidden = !e.attributions.grad_cam;
    box.querySelector(".feature-maps").innerHTML = e.feature_maps.map((m) => `<figure class="maps"><figcaption>${esc(m.layer)}: ${m.shape.join(" x ")}</figcaption>
      <img src="data:image/png;base64,${m.png}" alt="feature maps of ${esc(m.layer)}"></figure>`).join("");
  };
  async function send() {
    const model = box.querySelector(".model").value;
    if (!model) return;
    inFlight = true;
    wanted = false;
    box.setAttribute("aria-busy", "true");  // until the newest drawing is answered
    try {
      const blob = await getBlob();
      const form = new FormData();
      form.append("file", blob, "drawing.png");
      const result = await api(`/explain?${model}`, {method: "POST", body: form});
      result.classNames = await classNames(result.model.dataset);
      show(result);
    } catch (error) {
      box.querySelector(".answer").className = "answer error";
      box.querySelector(".answer").textContent = error.message;
    } finally {
      inFlight = false;
    }
    if (wanted) send();  // the drawing changed while this one was answered: send the newest, once
    else box.setAttribute("aria-busy", "false");
  }
  box.querySelector(".model").addEventListener("change", () => send());
  return {update() { if (inFlight) wanted = true; else send(); }, box};
}

const namesByDataset = new Map();
async function classNames(dataset) {
  if (!namesByDataset.has(dataset)) namesByDataset.set(dataset, (await api(`/datasets/${dataset}`)).class_names);
  return namesByDataset.get(dataset);
}

export async function render(root, params, query) {
  const registry = await api("/models");
  root.innerHTML = `<section class="wide"><h2>Draw, and see what the models see</h2><div class="row">
      <div><canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas><br>
        <button id="clear" type="button">Clear</button> <button id="predict-drawing" type="button">Predict drawing</button>
        <label>or upload<input id="upload" type="file" accept="image/*"></label></div>
      <p class="muted">The answers change while you draw. Red in a map is what speaks for the class, blue what
        speaks against it. Pick a second model to see where two models disagree.</p></div></section>
    ${panelHtml("a", registry, query.get("a") || "dataset=mnist")}${panelHtml("b", registry, query.get("b") || "")}`;
  const pad = root.querySelector("#pad"), ink = pad.getContext("2d");
  const clear = () => { ink.fillStyle = "#fff"; ink.fillRect(0, 0, pad.width, pad.height); };
  clear();
  Object.assign(ink, {lineWidth: 18, lineCap: "round", lineJoin: "round", strokeStyle: "#000"});
  let upload = null;  // an uploaded file replaces the drawing until the next stroke
  const getBlob = () => (upload ? Promise.resolve(upload) : new Promise((resolve) => pad.toBlob(resolve, "image/png")));
  const panels = ["a", "b"].map((side) => panel(root, side, getBlob));
  const updateAll = () => panels.forEach((p) => p.update());

  let drawing = false;
  const point = (event) => { const box = pad.getBoundingClientRect(); return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height]; };
  pad.addEventListener("pointerdown", (event) => {
    drawing = true; upload = null;
    pad.setPointerCapture(event.pointerId);
    ink.beginPath(); ink.moveTo(...point(event));
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    ink.lineTo(...point(event)); ink.stroke();
    updateAll();
  });
  pad.addEventListener("pointerup", () => { if (drawing) { drawing = false; updateAll(); } });
  root.querySelector("#clear").addEventListener("click", clear);
  root.querySelector("#predict-drawing").addEventListener("click", () => { upload = null; updateAll(); });
  root.querySelector("#upload").addEventListener("change", (event) => { upload = event.target.files[0] || null; if (upload) updateAll(); });
}
