// The notebook's router: every view has its own URL (#/jobs/12, #/compare/3,4, #/data/mnist, ...), so a
// link can be shared and the browser's back button works. One event stream serves all views.
import {api, showError} from "./api.js";
import * as live from "./live.js";
import * as architectures from "./views/architectures.js";
import * as compare from "./views/compare.js";
import * as data from "./views/data.js";
import * as draw from "./views/draw.js";
import * as job from "./views/job.js";
import * as jobs from "./views/jobs.js";
import * as models from "./views/models.js";
import * as sweeps from "./views/sweeps.js";

const ROUTES = [
  [/^jobs\/(\d+)$/, job], [/^jobs$/, jobs], [/^data(?:\/([\w-]+))?$/, data], [/^architectures$/, architectures],
  [/^compare(?:\/([\d,]+))?$/, compare], [/^sweeps(?:\/(\d+))?$/, sweeps], [/^models$/, models], [/^draw$/, draw],
];

const root = document.getElementById("view");
let cleanup = null, generation = 0;

async function route() {
  const [path, search = ""] = (location.hash.replace(/^#\/?/, "") || "jobs").split("?");
  const match = ROUTES.map(([pattern, view]) => [path.match(pattern), view]).find(([m]) => m);
  cleanup?.();
  cleanup = null;
  const mine = ++generation;
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", path.split("/")[0] === link.getAttribute("href").slice(2));
  }
  // Each visit renders into a page of its own: a view's late answers (a fetch that returns after the user moved
  // on) land in its detached page instead of failing to find their elements in the next view.
  const page = document.createElement("div");
  page.className = "page";
  root.replaceChildren(page);
  if (!match) { showError(page, `no such page: #/${path}`); return; }
  const [groups, view] = match;
  document.title = `${view.title} - mnistlab`;
  page.innerHTML = `<section class="wide muted">loading...</section>`;
  try {
    const done = await view.render(page, groups.slice(1).filter((g) => g !== undefined), new URLSearchParams(search));
    if (mine === generation) cleanup = done || null; else done?.();
  } catch (error) {
    if (mine === generation) showError(page, error);
  }
}

window.addEventListener("hashchange", route);
route();
live.connect();

// Where the server needs a key, this browser is signed in by cookie: offer to sign out.
api("/session").then((session) => { document.getElementById("sign-out").hidden = !session.key_required; }).catch(() => {});
document.getElementById("sign-out").addEventListener("click", async () => {
  await fetch("/session", {method: "DELETE"});
  location.reload();
});
