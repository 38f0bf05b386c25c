// zsclf serve's page: search (text, +/- words, like a photo), thumbnails, and classifying a dropped photo.
// Everything comes from this server; text is set with textContent only (never parsed as HTML).
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const auth = token ? {Authorization: "Bearer " + token} : {};
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, {...options, headers: {...auth, ...(options.headers || {})}});
    if (response.status === 503 && attempt < 5) {  // the server's queue is full: wait and try again
      await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
      continue;
    }
    return response;
  }
}

async function json(response) {
  const body = await response.json().catch(() => ({error: "HTTP " + response.status}));
  if (!response.ok && !body.error) body.error = "HTTP " + response.status;
  return body;
}

const waiting = [];  // thumbnails are fetched a few at a time, so the server's queue never overflows
let running = 0;
function thumbnail(id, img) {
  waiting.push([id, img]);
  pump();
}
function pump() {
  while (running < 3 && waiting.length) {
    const [id, img] = waiting.shift();
    running++;
    api(`/v1/photos/${encodeURIComponent(id)}/thumbnail`)
      .then((r) => (r.ok ? r.blob() : null))
      .then((blob) => { if (blob) img.src = URL.createObjectURL(blob); else img.alt = "(no preview)"; })
      .catch(() => { img.alt = "(no preview)"; })
      .finally(() => { running--; pump(); });
  }
}

function words(id) {
  return $(id).value.split(",").map((w) => w.trim()).filter((w) => w);
}

async function search(params) {
  const query = new URLSearchParams(params);
  for (const w of words("plus")) query.append("plus", w);
  for (const w of words("minus")) query.append("minus", w);
  query.set("k", "24");
  $("status").textContent = "searching…";
  $("status").className = "";
  const body = await json(await api("/v1/search?" + query));
  const grid = $("grid");
  grid.replaceChildren();
  if (body.error) {
    $("status").textContent = body.error;
    $("status").className = "error";
    return;
  }
  $("title").textContent = body.query;
  $("status").textContent = body.results.length ? `${body.results.length} photos` : "no photos";
  for (const hit of body.results) {
    const card = document.createElement("div");
    card.className = "photo";
    card.dataset.id = hit.id;
    card.title = "photos like this one";
    const img = document.createElement("img");
    img.alt = "";
    const path = document.createElement("div");
    path.className = "path";
    path.textContent = hit.path;
    const score = document.createElement("div");
    score.textContent = hit.score.toFixed(3);
    card.append(img, score, path);
    card.addEventListener("click", () => search({like: hit.id}));
    grid.append(card);
    thumbnail(hit.id, img);
  }
}

async function classify(file) {
  $("preview").replaceChildren();
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file);
  img.alt = "";
  $("preview").append(img);
  $("labels").replaceChildren();
  $("hedged").textContent = "classifying…";
  const body = await json(await api("/v1/predict", {method: "POST", body: file,
                                                    headers: {"Content-Type": "application/octet-stream"}}));
  $("hedged").textContent = "";
  if (body.error) {
    $("hedged").textContent = body.error;
    $("hedged").className = "error";
    return;
  }
  $("hedged").className = "";
  for (const p of body.predictions) {
    const row = document.createElement("tr");
    const label = document.createElement("td");
    label.textContent = p.label;
    label.title = p.id;
    const bar = document.createElement("meter");
    bar.min = 0;
    bar.max = 1;
    bar.value = Math.max(0, Math.min(1, p.score));
    const barCell = document.createElement("td");
    barCell.append(bar);
    const score = document.createElement("td");
    score.textContent = p.score.toFixed(3);
    row.append(label, barCell, score);
    $("labels").append(row);
  }
  if (body.hedged) {
    $("hedged").textContent = `hedged: ${body.hedged.label} (p ${body.hedged.probability.toFixed(2)})`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("q").value.trim();
    if (q || words("plus").length) search(q ? {q} : {});
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) classify(event.dataTransfer.files[0]);
  });
  $("file").addEventListener("change", () => { if ($("file").files.length) classify($("file").files[0]); });
  const start = new URLSearchParams(location.search);  // ?q=… or ?like=ID runs that search on load
  if (start.get("q")) { $("q").value = start.get("q"); search({q: start.get("q")}); }
  else if (start.get("like")) search({like: start.get("like")});
});
