// The job form, built from GET /spec alone: a data set, model, optimizer, schedule, knob or field that the
// spec gains shows up here by itself. A 422 is shown at the field it names.
import {esc, postJson} from "./api.js";

const NOT_CHOICES = new Set(["statuses", "rules"]);
const PREFERRED = {dataset: "mnist", model: "cnn", optimizer: "adam", device: "auto"};
const PAGE_DEFAULTS = {epochs: 5};  // the API's default (100) is for programs; a lab's first run is short

// spec keys holding the choices of a job field: "lr_schedules" -> lr_schedule, "models" -> model, ...
function choiceFields(spec) {
  return Object.entries(spec)
    .filter(([key, value]) => !NOT_CHOICES.has(key) && Array.isArray(value) && value.length && key.endsWith("s"))
    .map(([key, value]) => [key.slice(0, -1), value.map((v) => (typeof v === "string" ? v : v.name))]);
}

function numberInput(name, field, {value = "", prefix = ""} = {}) {
  const kind = field.type === "integer" ? "integer" : "number";
  const min = field.minimum ?? field.exclusiveMinimum, max = field.maximum ?? field.exclusiveMaximum;
  const placeholder = field.default === null || field.default === undefined ? (field.description || "") : field.default;
  if (field.type === "boolean") {
    return `<label title="${esc(field.description)}">${esc(name)}<input name="${prefix}${name}" type="checkbox" data-kind="boolean"${field.default ? " checked" : ""}>
      <small class="field-error" data-field="${prefix}${name}"></small></label>`;
  }
  return `<label title="${esc(field.description)}">${esc(name.replace(/_/g, " "))}<input name="${prefix}${name}" type="number" step="any"
    data-kind="${kind}"${min === undefined ? "" : ` min="${min}"`}${max === undefined ? "" : ` max="${max}"`}
    placeholder="${esc(placeholder)}" value="${esc(value)}"><small class="field-error" data-field="${prefix}${name}"></small></label>`;
}

export function buildJobForm(form, spec, {onCreated, onError}) {
  const choices = choiceFields(spec);
  const presets = Object.keys(spec.augmentation.presets);
  form.innerHTML = `
    <div class="fields">${choices.map(([field, values]) => `<label>${esc(field.replace(/_/g, " "))}<select name="${field}">${values.map((v) =>
      `<option${v === (PREFERRED[field] ?? values[0]) ? " selected" : ""}>${esc(v)}</option>`).join("")}</select>
      <small class="field-error" data-field="${field}"></small></label>`).join("")}
      <label title="random changes to each training image">augmentation<select name="augmentation">
        ${presets.map((p) => `<option${p === "none" ? " selected" : ""}>${esc(p)}</option>`).join("")}<option value="custom">custom...</option></select>
        <small class="field-error" data-field="augmentation"></small></label></div>
    <div class="fields" id="knobs"></div>
    <div class="fields">${Object.entries(spec.fields).map(([name, field]) => numberInput(name, field, {value: PAGE_DEFAULTS[name] ?? (name === "batch_size" ? field.default : "")})).join("")}</div>
    <div class="fields" id="custom-augmentation" hidden>${Object.entries(spec.augmentation.fields).map(([name, field]) => numberInput(name, field, {prefix: "augmentation."})).join("")}</div>
    <div class="fields"><label><input type="checkbox" name="early_stopping.enabled" data-kind="group"> stop early</label>
      <span id="early-stopping" hidden>${Object.entries(spec.early_stopping).map(([name, field]) => numberInput(name, field, {prefix: "early_stopping."})).join("")}</span>
      <small class="field-error" data-field="early_stopping"></small></div>
    <button type="submit">Start</button> <span id="form-message" class="muted" role="status"></span>`;
  const knobs = form.querySelector("#knobs");

  function showKnobs() {
    const model = spec.models.find((m) => m.name === form.elements.model.value);
    const optimizer = spec.optimizers.find((o) => o.name === form.elements.optimizer.value);
    knobs.innerHTML = Object.entries({...model.options, ...optimizer.options}).map(([name, knob]) => numberInput(name, knob)).join("");
    if (form.elements.lr) form.elements.lr.placeholder = optimizer.default_lr;
  }
  form.elements.model.addEventListener("change", showKnobs);
  form.elements.optimizer.addEventListener("change", showKnobs);
  form.elements.augmentation.addEventListener("change", () => {
    form.querySelector("#custom-augmentation").hidden = form.elements.augmentation.value !== "custom";
  });
  form.elements["early_stopping.enabled"].addEventListener("change", (event) => {
    form.querySelector("#early-stopping").hidden = !event.target.checked;
  });
  showKnobs();

  function body() {
    const out = {};
    for (const input of form.querySelectorAll("[name]")) {
      const kind = input.dataset.kind, [group, name] = input.name.includes(".") ? input.name.split(".") : [null, input.name];
      if (kind === "group" || input.closest("[hidden]")) continue;
      let value;
      if (kind === "boolean") { if (!input.checked) continue; value = true; }
      else if (input.value === "") continue;
      else value = kind === "integer" ? parseInt(input.value, 10) : kind === "number" ? parseFloat(input.value) : input.value;
      if (group) (out[group] = typeof out[group] === "object" ? out[group] : {})[name] = value;
      else if (!(name === "augmentation" && value === "custom")) out[name] = value;
    }
    if (form.elements["early_stopping.enabled"].checked && !out.early_stopping) out.early_stopping = {};
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const small of form.querySelectorAll(".field-error")) small.textContent = "";
    const message = form.querySelector("#form-message");
    try {
      const job = await postJson("/jobs", body());
      message.className = "muted";
      message.innerHTML = `job <a href="#/jobs/${job.id}">${job.id}</a> queued`;
      onCreated?.(job);
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
      for (const [field, text] of Object.entries(error.fields || {})) {
        const target = form.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`)
          || form.querySelector(`.field-error[data-field="${CSS.escape(field.split(".")[0])}"]`);
        if (target) target.textContent = text;
      }
      onError?.(error);
    }
  });
}
