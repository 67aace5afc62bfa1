// The review page: keyboard, actions and panels. Every string the page shows was escaped by the
// server's templates; this script only moves focus, posts decisions and shows server fragments.
"use strict";

const HEADERS = {"Content-Type": "application/json", "X-Curator-Review": "1"};
const SELECTED = "curator-review-selected";
let rows = [];
let current = -1;

function say(text, bad) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = bad ? "bad" : "";
}

async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: HEADERS, body: JSON.stringify(body || {})});
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function select(i) {
  if (!rows.length) return;
  current = Math.max(0, Math.min(rows.length - 1, i));
  rows.forEach((row, j) => row.classList.toggle("selected", j === current));
  rows[current].scrollIntoView({block: "nearest"});
  sessionStorage.setItem(SELECTED, rows[current].dataset.id);
}

function selectedRow() { return current >= 0 ? rows[current] : null; }

async function decide(row, action, value) {
  if (!row) return;
  if (action === "history") return showHistory(row);
  try {
    if (action === "labelstudio") {
      const done = await post("/api/labelstudio", {ids: [row.dataset.id]});
      sessionStorage.setItem("curator-review-status", `sent to Label Studio project ${done.project}`);
    } else {
      await post("/api/decide", {ids: [row.dataset.id], action: action, value: value || null});
    }
    sessionStorage.setItem(SELECTED, row.dataset.id);
    location.reload();
  } catch (err) {
    say(err.message, true);
  }
}

async function bulk(action, value) {
  const total = document.body.dataset.total;
  const what = value ? `relabel to ${value}` : action.replace("_", " ");
  if (!confirm(`${what}: apply to every row of the ${total} filtered ${document.body.dataset.kind}?`)) return;
  const form = new FormData(document.getElementById("filters"));
  const body = {queue: document.body.dataset.queue, action: action, value: value || null};
  for (const key of ["label", "split", "reason", "q"]) body[key] = form.get(key) || null;
  try {
    const done = await post("/api/bulk", body);
    sessionStorage.setItem("curator-review-status", `${what}: ${done.rows} rows`);
    location.reload();
  } catch (err) {
    say(err.message, true);
  }
}

async function undo() {
  try {
    const done = await post("/api/undo");
    sessionStorage.setItem("curator-review-status", `undone: ${done.rows} row(s)`);
    location.reload();
  } catch (err) {
    say(err.message, true);
  }
}

async function showHistory(row) {
  const panel = document.getElementById("history");
  const response = await fetch("/history?id=" + encodeURIComponent(row.dataset.id));
  panel.innerHTML = await response.text();  // rendered and escaped by the server's template
  panel.hidden = false;
  document.getElementById("history-close").addEventListener("click", closePanels);
}

function closePanels() {
  for (const id of ["history", "lightbox", "help"]) document.getElementById(id).hidden = true;
}

function showImage(src, alt) {
  const img = document.getElementById("lightbox-img");
  img.src = src;
  img.alt = alt;
  document.getElementById("lightbox").hidden = false;
}

function onKey(event) {
  const target = event.target;
  if (event.key === "Escape") { closePanels(); if (target.blur) target.blur(); return; }
  if (target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const row = selectedRow();
  const labels = row ? [...row.querySelectorAll("select.relabel option")].map(o => o.value).filter(Boolean) : [];
  const keys = {
    j: () => select(current + 1), k: () => select(current - 1),
    ArrowDown: () => select(current + 1), ArrowUp: () => select(current - 1),
    e: () => decide(row, "keep"), d: () => decide(row, "drop"), s: () => decide(row, "restore"),
    n: () => decide(row, "not_duplicate"), l: () => decide(row, "labelstudio"),
    h: () => row && showHistory(row), Enter: () => row && showHistory(row),
    r: () => row && row.querySelector("select.relabel").focus(),
    u: () => undo(), "/": () => document.getElementById("search").focus(),
    "?": () => { const help = document.getElementById("help"); help.hidden = !help.hidden; },
  };
  if (/^[1-9]$/.test(event.key) && row && labels[Number(event.key) - 1]) {
    event.preventDefault();
    return decide(row, "relabel", labels[Number(event.key) - 1]);
  }
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
}

document.addEventListener("DOMContentLoaded", () => {
  rows = [...document.querySelectorAll("article.row[data-id]")];
  const remembered = sessionStorage.getItem(SELECTED);
  const at = rows.findIndex(r => r.dataset.id === remembered);
  if (rows.length) select(at >= 0 ? at : 0);
  const message = sessionStorage.getItem("curator-review-status");
  if (message) { say(message); sessionStorage.removeItem("curator-review-status"); }

  rows.forEach((row, i) => {
    row.addEventListener("click", () => select(i));
    row.querySelectorAll("button[data-action]").forEach(b =>
      b.addEventListener("click", () => decide(row, b.dataset.action)));
    row.querySelector("select.relabel").addEventListener("change", e => {
      if (e.target.value) decide(row, "relabel", e.target.value);
    });
    const thumb = row.querySelector("img.thumb");
    if (thumb) thumb.addEventListener("click", () => showImage(thumb.dataset.full, thumb.alt));
  });
  document.querySelectorAll("button[data-bulk]").forEach(b => b.addEventListener("click", () => bulk(b.dataset.bulk)));
  document.getElementById("bulk-label").addEventListener("change", e => {
    if (e.target.value) bulk("relabel", e.target.value);
  });
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("help-toggle").addEventListener("click", () => {
    const help = document.getElementById("help"); help.hidden = !help.hidden;
  });
  document.getElementById("lightbox").addEventListener("click", closePanels);
  document.addEventListener("keydown", onKey);
  document.body.dataset.ready = "1";  // handlers attached: keys and clicks work from here
});
