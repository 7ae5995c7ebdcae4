// The dashboard shell: a hash router that mounts one view at a time and tears the last
// one down (closing its live streams) before the next.

import { h, mount } from "./dom.js";
import { liveState, toast } from "./ui.js";
import { agentsView } from "./views/agents.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";
import { settingsView } from "./views/settings.js";
import { usageView } from "./views/usage.js";

const ROUTES = [
  [/^#?\/?$/, () => runsView, "runs"],
  [/^#\/runs\/?$/, () => runsView, "runs"],
  [/^#\/runs\/([^/]+)(?:\/steps\/(.+))?$/, () => runView, "runs"],
  [/^#\/agents\/?$/, () => agentsView, "agents"],
  [/^#\/usage\/?$/, () => usageView, "usage"],
  [/^#\/settings\/?$/, () => settingsView, "settings"],
];

const main = document.getElementById("main");
let current = null; // {view, key, cleanup, update}

function route() {
  const hash = location.hash || "#/runs";
  for (const [re, viewOf, nav] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    const view = viewOf();
    const params = m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    // Same view, same main entity (e.g. another step of the same run): update in place.
    if (current && current.view === view && current.key === params[0] && current.update) {
      current.update(...params);
      return;
    }
    if (current && current.cleanup) current.cleanup();
    liveState("");
    mount(main);
    const handle = view(main, ...params) || {};
    current = { view, key: params[0], cleanup: handle.cleanup, update: handle.update };
    return;
  }
  if (current && current.cleanup) current.cleanup();
  current = null;
  mount(main, h("section", { class: "panel" }, h("h1", null, "Not found"), h("p", null, h("a", { href: "#/runs" }, "Back to runs"))));
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (ev) => {
  toast(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason));
});
route();
