// Page-wide bits every view uses: the alert toast, the live-connection indicator, and
// the API key the dashboard sends (kept in this browser only).

/** Show a message in the alert area for a few seconds. */
export function toast(message) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    el.hidden = true;
  }, 6000);
}

const LIVE_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "",
};

/** Show the state of the live connection in the top bar ("live", "reconnecting…"). */
export function liveState(state) {
  const el = document.getElementById("live-state");
  if (!el) return;
  const text = LIVE_TEXT[state] ?? state ?? "";
  el.textContent = text;
  el.dataset.state = state || "";
}
