// The search page: text, dropped files and indexed rows combine into one weighted query
// (POST /api/query, multipart); results come back as a grid of previews, players and texts.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, files: [], rows: [], nextFile: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "status error" : "status";
}

// Counts finished searches (answered or refused), so a script driving the page can wait for one.
function searchDone() {
  const status = $("status");
  status.dataset.done = String(parseInt(status.dataset.done || "0", 10) + 1);
}

// Modalities of the model whose files end in this suffix (several for .png: vision, depth, thermal).
function candidates(name) {
  const dot = name.lastIndexOf(".");
  const suffix = dot >= 0 ? name.slice(dot).toLowerCase() : "";
  const all = Object.entries(state.info.query_modalities).filter(([, m]) => !m.strings);
  const fit = all.filter(([, m]) => m.extensions.includes(suffix)).map(([n]) => n);
  return fit.length ? fit : all.map(([n]) => n);
}

function addFiles(fileList) {
  for (const file of fileList) {
    const options = candidates(file.name);
    state.files.push({ key: "f" + state.nextFile++, file, modality: options[0], options, weight: 1 });
  }
  renderTerms();
}

function weightInput(term) {
  return el("input", { type: "number", step: "0.1", value: term.weight, title: "weight",
                       oninput: (e) => { term.weight = parseFloat(e.target.value); } });
}

function renderTerms() {
  const box = $("terms");
  box.replaceChildren();
  for (const term of state.files) {
    const select = el("select", { title: "modality", onchange: (e) => { term.modality = e.target.value; } });
    for (const name of term.options) select.append(el("option", name === term.modality ? { selected: "" } : {}, name));
    box.append(el("span", { class: "chip file-term" }, term.file.name, select, weightInput(term),
      el("button", { type: "button", title: "remove", onclick: () => {
        state.files = state.files.filter((t) => t !== term); renderTerms(); } }, "\u00d7")));
  }
  for (const term of state.rows) {
    box.append(el("span", { class: "chip row-term" }, "like " + term.id, weightInput(term),
      el("button", { type: "button", title: "remove", onclick: () => {
        state.rows = state.rows.filter((t) => t !== term); renderTerms(); } }, "\u00d7")));
  }
}

function buildRequest() {
  const terms = [];
  const text = $("text").value.trim();
  if (text) terms.push({ text, weight: 1 });
  for (const t of state.files) terms.push({ upload: t.key, modality: t.modality, weight: t.weight });
  for (const t of state.rows) terms.push({ id: t.id, weight: t.weight });
  const modality = [...document.querySelectorAll("#filters input:checked")].map((box) => box.value);
  const query = { terms, k: parseInt($("k").value, 10), backend: $("backend").value,
                  per_modality: $("per-modality").checked };
  if (modality.length) query.modality = modality;
  const form = new FormData();
  form.append("query", JSON.stringify(query));
  for (const t of state.files) form.append(t.key, t.file, t.file.name);
  return { form, count: terms.length };
}

function mediaOf(hit) {
  if (hit.kind === "text") return el("blockquote", {}, "\u201c" + hit.source + "\u201d");
  if (hit.kind === "audio") {
    return el("div", { class: "sound" }, el("img", { src: hit.preview, alt: "waveform of " + hit.id, loading: "eager" }),
              el("audio", { controls: "", preload: "metadata", src: hit.media }));
  }
  if (hit.preview) return el("img", { src: hit.preview, alt: hit.id, loading: "eager" });
  return el("span", { class: "muted" }, "no preview");
}

function card(hit) {
  const known = ["vision", "audio", "text", "depth", "thermal", "imu"].includes(hit.modality);
  const name = hit.kind === "text" ? hit.id : (hit.source.split(/[\\/]/).pop() || hit.id);
  const like = el("button", { type: "button", title: "add this item to the query", onclick: () => {
    if (!state.rows.some((t) => t.id === hit.id)) state.rows.push({ id: hit.id, weight: 1 });
    renderTerms(); search(); } }, "+ query");
  return el("article", { class: "card result", "data-modality": hit.modality, "data-id": hit.id },
    el("div", { class: "head" },
      el("span", { class: "badge " + (known ? hit.modality : "other") }, hit.modality),
      el("span", { class: "rank" }, "#" + hit.rank),
      el("strong", { class: "score-value" }, hit.score.toFixed(3))),
    el("div", { class: "body" }, mediaOf(hit)),
    el("div", { class: "score" }, el("span", { style: "width:" + Math.max(0, Math.min(1, hit.score)) * 100 + "%" })),
    el("div", { class: "foot" }, el("span", { class: "name", title: hit.source || hit.id }, name), like));
}

async function search(event) {
  if (event) event.preventDefault();
  const { form, count } = buildRequest();
  if (!count) { setStatus("Type a description or drop a file to search.", true); searchDone(); return; }
  setStatus("Searching\u2026");
  let response, data;
  try {
    response = await fetch("/api/query", { method: "POST", body: form });
    data = await response.json();
  } catch (err) {
    setStatus("The server did not answer: " + err, true);
    searchDone();
    return;
  }
  if (!response.ok) { setStatus(data.error || ("error " + response.status), true); searchDone(); return; }
  const items = [];
  let group = null;
  for (const hit of data.results) {
    if (data.per_modality && hit.modality !== group) {
      group = hit.modality;
      items.push(el("h2", { class: "group" }, group));
    }
    items.push(card(hit));
  }
  $("results").replaceChildren(...items);
  setStatus(data.results.length + " results \u00b7 " + data.backend + " search \u00b7 embedding " +
            data.embed_ms.toFixed(1) + " ms, search " + data.search_ms.toFixed(1) + " ms");
  searchDone();
}

async function loadInfo() {
  const response = await fetch("/api/info");
  state.info = await response.json();
  const counts = Object.entries(state.info.modalities);
  $("summary").textContent = state.info.rows + " items \u00b7 " + counts.map(([m, c]) => c + " " + m).join(", ") +
    " \u00b7 " + state.info.backend + " search";
  for (const [name, count] of counts) {
    $("filters").append(el("label", {}, el("input", { type: "checkbox", value: name, name: "modality" }),
                           " " + name + " (" + count + ")"));
  }
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  drop.addEventListener("click", (e) => { if (e.target === drop) $("files").click(); });
  $("files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
}

$("search").addEventListener("submit", search);
wireDrop();
loadInfo().catch((err) => setStatus("Cannot load the index description: " + err, true));
