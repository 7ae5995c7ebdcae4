// Settings kept in this browser: the API key the dashboard sends, and the live transport.

import { apiKey, get, setApiKey, transport } from "../api.js";
import { h, mount } from "../dom.js";

export function settingsView(root) {
  const key = h("input", { id: "api-key", type: "password", autocomplete: "off", value: apiKey() });
  const sse = h("input", { type: "radio", name: "transport", value: "sse", checked: transport() === "sse" });
  const ws = h("input", { type: "radio", name: "transport", value: "ws", checked: transport() === "ws" });
  const status = h("p", { role: "status", class: "hint" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "settings-title" },
    h("h2", { id: "settings-title" }, "Connection"),
    h("label", { for: "api-key" }, "API key"),
    key,
    h("p", { class: "hint" }, "Needed when the server has API keys. Kept in this browser only and sent as a Bearer token."),
    h("fieldset", null, h("legend", null, "Live updates over"), h("label", null, sse, "Server-Sent Events"), h("label", null, ws, "WebSocket")),
    h("div", { class: "form-row" }, status, h("button", { class: "primary", type: "submit" }, "Save")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setApiKey(key.value.trim());
    localStorage.setItem("nexus.transport", ws.checked ? "ws" : "sse");
    try {
      await get("/api/runs", { limit: 1 });
      status.className = "hint";
      status.textContent = "Saved. The server accepts this connection.";
    } catch (err) {
      status.className = "error-text";
      status.textContent = `Saved, but the server refused: ${err.message}`;
    }
  });
  mount(
    root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, "Settings"), h("p", { class: "sub" }, "How this dashboard talks to the server."))),
    form,
    h(
      "section",
      { class: "panel", "aria-labelledby": "api-title" },
      h("h2", { id: "api-title" }, "API"),
      h("p", null, "Everything on these pages comes from the REST API; its reference is at ", h("a", { href: "/docs" }, "/docs"), "."),
    ),
  );
}
