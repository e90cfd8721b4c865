// The drawing board: draw a digit (black ink on white, like paper) or upload a photo; the service turns
// it into the data set's form and the chosen model answers.
import {api, esc, getSpec} from "../api.js";

export const title = "Draw";

export async function render(root) {
  const spec = await getSpec();
  root.innerHTML = `<section class="wide"><h2>Draw and predict</h2><div class="row">
      <div><canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas><br>
        <button id="clear" type="button">Clear</button> <button id="predict-drawing" type="button">Predict drawing</button></div>
      <div><label>model<select id="predict-dataset">${spec.datasets.map((d) => `<option value="${d.name}">${esc(d.name)} default</option>`).join("")}</select></label><br>
        <label>or upload<input id="upload" type="file" accept="image/*"></label>
        <div id="prediction" class="muted">Draw a digit, or upload an image.</div>
        <img id="seen" alt="the 28x28 image the model saw" hidden></div></div></section>`;
  const pad = root.querySelector("#pad"), ink = pad.getContext("2d");
  const clear = () => { ink.fillStyle = "#fff"; ink.fillRect(0, 0, pad.width, pad.height); };
  clear();
  Object.assign(ink, {lineWidth: 18, lineCap: "round", lineJoin: "round", strokeStyle: "#000"});
  let drawing = false;
  const point = (event) => { const box = pad.getBoundingClientRect(); return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height]; };
  pad.addEventListener("pointerdown", (event) => { drawing = true; pad.setPointerCapture(event.pointerId); ink.beginPath(); ink.moveTo(...point(event)); });
  pad.addEventListener("pointermove", (event) => { if (drawing) { ink.lineTo(...point(event)); ink.stroke(); } });
  pad.addEventListener("pointerup", () => { drawing = false; });
  root.querySelector("#clear").addEventListener("click", clear);

  async function predict(blob, name) {
    const form = new FormData();
    form.append("file", blob, name);
    const out = root.querySelector("#prediction"), seen = root.querySelector("#seen");
    try {
      const result = await api(`/predict?debug=true&dataset=${root.querySelector("#predict-dataset").value}`, {method: "POST", body: form});
      const best = result.predictions[0];
      out.className = "";
      out.innerHTML = `<b id="predicted-class">${esc(best.class_name)}</b> (${(best.confidence * 100).toFixed(1)}%)<br>` +
        best.top_k.map((k) => `${esc(k.class_name)}: ${(k.probability * 100).toFixed(1)}%`).join("<br>") +
        `<br><span class="muted">${esc(result.model.model)} on ${esc(result.model.dataset)}, ${result.model.job_id === null ? "shipped model" : "job " + result.model.job_id}</span>`;
      seen.src = "data:image/png;base64," + best.image_png;
      seen.hidden = false;
    } catch (error) {
      out.className = "error";
      out.textContent = error.message;
    }
  }
  root.querySelector("#predict-drawing").addEventListener("click", () => pad.toBlob((blob) => predict(blob, "drawing.png"), "image/png"));
  root.querySelector("#upload").addEventListener("change", (event) => { const file = event.target.files[0]; if (file) predict(file, file.name); });
}
