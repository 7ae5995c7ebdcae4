// Small DOM helpers: build elements from data without ever parsing text as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    } else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("a", {href: "#/runs", class: "link"}, "Runs"). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same signature as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replace all children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A <dl> from [label, value] pairs, skipping empty values. */
export function facts(pairs, cls = "facts") {
  const dl = h("dl", { class: cls });
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(h("dt", null, label), h("dd", null, value));
  }
  return dl;
}

/** A section with a heading; id is used for aria-labelledby. */
export function section(id, title, ...children) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": `${id}-title`, id },
    h("h2", { id: `${id}-title` }, title),
    ...children,
  );
}

/** Pretty JSON in a <pre>, or the text itself when it is a string. */
export function codeBlock(value, cls = "code") {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { class: cls, tabindex: "0" }, h("code", null, text ?? ""));
}

/** Call fn at most once per `ms`, with the latest arguments. */
export function debounce(fn, ms) {
  let timer = null;
  let args = [];
  return (...a) => {
    args = a;
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
}
