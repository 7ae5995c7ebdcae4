// The REST client and the live streams (Server-Sent Events read with fetch, or WebSocket).

export class ApiError extends Error {
  constructor(status, body, path) {
    const detail = body && typeof body === "object" ? body.error || body.detail || body : body;
    const message =
      (detail && typeof detail === "object" ? detail.message || JSON.stringify(detail) : detail) ||
      `HTTP ${status}`;
    super(`${message} (${path})`);
    this.status = status;
    this.body = body;
  }
}

const KEY_ITEM = "nexus.apiKey";

/** The API key this browser sends, if one was saved in Settings. */
export function apiKey() {
  try {
    return localStorage.getItem(KEY_ITEM) || "";
  } catch {
    return "";
  }
}

/** Save (or, with "", forget) the API key. */
export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_ITEM, key);
  else localStorage.removeItem(KEY_ITEM);
}

function authHeaders(headers) {
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

function withParams(path, params) {
  if (!params) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const qs = q.toString();
  return qs ? `${path}${path.includes("?") ? "&" : "?"}${qs}` : path;
}

/** Call the API; resolves with the JSON body, rejects with ApiError. */
export async function api(path, { method = "GET", body, params, signal } = {}) {
  const url = withParams(path, params);
  const init = { method, signal, headers: authHeaders({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data, url);
  return data;
}

export const get = (path, params, signal) => api(path, { params, signal });
export const post = (path, body) => api(path, { method: "POST", body });

/** The rows of a list response, whether it is a bare array or a page object. */
export function rows(data) {
  if (Array.isArray(data)) return data;
  if (!data || typeof data !== "object") return [];
  for (const key of ["items", "data", "runs", "steps", "events", "agents", "artifacts", "results"]) {
    if (Array.isArray(data[key])) return data[key];
  }
  return [];
}

/** Read every page of a paginated list endpoint (bounded by maxRows). */
export async function getAll(path, params = {}, { pageSize = 500, maxRows = 20000 } = {}) {
  const out = [];
  let offset = 0;
  for (;;) {
    const page = await get(path, { ...params, limit: pageSize, offset });
    const batch = rows(page);
    out.push(...batch);
    const total = page && typeof page === "object" && !Array.isArray(page) ? page.total : undefined;
    offset += batch.length;
    if (batch.length < pageSize || out.length >= maxRows) break;
    if (total !== undefined && offset >= total) break;
  }
  return out;
}

function parseData(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Follow a Server-Sent Events endpoint. Reconnects with the last event id (header
 * Last-Event-ID and ?after_seq=) so nothing is missed; stops when `close()` is called or
 * `shouldReconnect()` says no. onEvent gets {type, id, data}; onState gets
 * "connecting" | "live" | "reconnecting" | "closed".
 */
export function followSSE(url, { onEvent, onState = () => {}, lastId = null, shouldReconnect }) {
  const controller = new AbortController();
  let closed = false;
  let delay = 500;
  let last = lastId;

  async function connectOnce() {
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (last !== null && last !== undefined) headers["Last-Event-ID"] = String(last);
    const target = last !== null && last !== undefined ? withParams(url, { after_seq: last }) : url;
    const res = await fetch(target, { headers, signal: controller.signal, cache: "no-store" });
    if (!res.ok || !res.body) throw new ApiError(res.status, await res.text(), url);
    onState("live");
    delay = 500;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { type: "", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (event.data.length) {
            const data = parseData(event.data.join("\n"));
            const type = event.type || (data && data.type) || "message";
            if (event.id !== null) last = event.id;
            onEvent({ type, id: event.id, data });
          }
          event = { type: "", data: [], id: null };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "event") event.type = val;
          else if (field === "data") event.data.push(val);
          else if (field === "id") event.id = val;
          else if (field === "retry" && /^\d+$/.test(val)) delay = Number(val);
        }
      }
    }
  }

  (async () => {
    onState("connecting");
    while (!closed) {
      try {
        await connectOnce();
      } catch (err) {
        if (closed || err.name === "AbortError") break;
        if (err instanceof ApiError && [401, 403, 404].includes(err.status)) break;
      }
      if (closed || (shouldReconnect && !shouldReconnect())) break;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
    onState("closed");
  })();

  return {
    close() {
      closed = true;
      controller.abort();
    },
    get lastId() {
      return last;
    },
  };
}

/**
 * Follow a WebSocket endpoint that sends one JSON object per message. Same callbacks as
 * followSSE; on reconnect it asks for ?after_seq=<last seq>.
 */
export function followWS(path, { onEvent, onState = () => {}, lastId = null, shouldReconnect }) {
  let closed = false;
  let socket = null;
  let delay = 500;
  let last = lastId;

  function open() {
    const base = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
    const params = { api_key: apiKey() || undefined };
    if (last !== null && last !== undefined) params.after_seq = last;
    const url = base + withParams(path, params);
    onState(socket ? "reconnecting" : "connecting");
    socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 500;
      onState("live");
    };
    socket.onmessage = (msg) => {
      const message = parseData(msg.data);
      if (!message || typeof message !== "object" || message.type === "ping") return;
      // Run streams send the event itself; the agents stream wraps it as {type, data}.
      const wrapped = message.seq === undefined && message.data !== undefined;
      const data = wrapped ? message.data : message;
      const id = message.seq ?? null;
      if (id !== null) last = id;
      onEvent({ type: message.type || "message", id, data });
    };
    socket.onclose = () => {
      if (closed || (shouldReconnect && !shouldReconnect())) {
        onState("closed");
        return;
      }
      onState("reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  open();
  return {
    close() {
      closed = true;
      if (socket) socket.close();
    },
    get lastId() {
      return last;
    },
  };
}

/** The live transport the user chose (Settings): "sse" (default) or "ws". */
export function transport() {
  try {
    return localStorage.getItem("nexus.transport") === "ws" ? "ws" : "sse";
  } catch {
    return "sse";
  }
}

/** Follow a run's or the agents' stream over the chosen transport. */
export function follow(ssePath, wsPath, options) {
  return transport() === "ws" && wsPath ? followWS(wsPath, options) : followSSE(ssePath, options);
}
