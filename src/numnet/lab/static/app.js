// numnet lab: plain JavaScript, no libraries. The server wants its token: it came in the URL (kept in a
// cookie by the server); we also send it as a header and drop it from the address bar.
"use strict";

const params = new URLSearchParams(location.search);
const TOKEN = params.get("token");
if (TOKEN) history.replaceState(null, "", location.pathname + location.hash);

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, children = []) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const COLORS = ["#d9534f", "#3b6fd8", "#3a9a48", "#b65fc4", "#e39a1c"];
const LIGHT = [[242, 190, 188], [190, 206, 242], [190, 226, 194], [228, 200, 234], [246, 220, 170]];
const state = { models: [], drawn: false, panel: "draw", training: null, play: null, gone: false, lastPredict: null };
const TEXT = "#1d2330"; // captions are dark text beside a coloured swatch (coloured text fails contrast)

function say(text) { $("#message").textContent = text || ""; }

// The server gone (stopped, crashed) or restarted (its token changed): one banner says what to do.
const GONE = "The lab's server is not answering: it was stopped or has crashed. Start it again with numnet lab " +
  "(in the lab's folder) and open the URL it prints; this page then needs that new URL.";
const RESTARTED = "The lab was restarted, so its token changed: open the new URL that numnet lab printed.";
function serverGone(why) {
  const banner = $("#server-banner");
  if (!state.gone) {
    state.gone = true;
    banner.textContent = why;
    banner.hidden = false;
    const t = state.training;
    if (t && t.es) { t.es.close(); t.es = null; }
    $("#train-start").disabled = true;
    $("#train-stop").disabled = true;
    if (/epoch|training|starting/.test($("#train-status").textContent)) $("#train-status").textContent += " (connection lost)";
  }
  banner.textContent = why;
}
async function serverBack() {
  if (!state.gone) return;
  state.gone = false;
  $("#server-banner").hidden = true;
  $("#train-start").disabled = false;
  try {
    const t = await api("/api/train/status");
    if (t.status === "running") follow(0, true); // replay the run from its first event
  } catch (e) { /* the next ping tells */ }
}
async function ping() {
  try {
    const r = await fetch("/api/ping", { headers: TOKEN ? { "X-Lab-Token": TOKEN } : {}, credentials: "same-origin" });
    if (r.status === 403) serverGone(RESTARTED); else if (r.ok) serverBack();
  } catch (e) { serverGone(GONE); }
}
setInterval(ping, 2000);

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (TOKEN) headers["X-Lab-Token"] = TOKEN;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  let r;
  try {
    r = await fetch(path, { method: opts.method || (opts.body ? "POST" : "GET"), body: opts.body,
                            headers, credentials: "same-origin" });
  } catch (e) {
    serverGone(GONE);
    throw new Error("the lab's server is not answering (see above)");
  }
  const type = r.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await r.json() : await r.blob();
  if (r.status === 403 && data && /token/.test(data.error || "")) serverGone(RESTARTED);
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

const model = () => $("#model").value;
const q = (extra = {}) => new URLSearchParams(Object.assign({ model: model() }, extra)).toString();

// ------------------------------------------------------------------ models and tabs
async function refreshModels(select) {
  const s = await api("/api/state");
  state.models = s.models;
  const pick = $("#model");
  const keep = select || pick.value;
  pick.replaceChildren(...s.models.map((m) => el("option", { value: m, textContent: m })));
  if (s.models.includes(keep)) pick.value = keep;
  $("#no-model").hidden = s.models.length > 0;
  return s;
}

function showPanel(name) {
  state.panel = name;
  for (const b of document.querySelectorAll("#tabs button")) {
    const on = b.dataset.panel === name;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("active", p.id === `panel-${name}`);
  say("");
  if (name === "inside") loadInside();
  if (name === "errors") loadErrors();
  if (name === "search") pollSearch();
  if (name === "train") loadRuns();
}
const tabs = [...document.querySelectorAll("#tabs button")];
for (const b of tabs) {
  b.addEventListener("click", () => showPanel(b.dataset.panel));
  b.addEventListener("keydown", (ev) => { // arrow keys move between tabs (the WAI-ARIA tabs pattern)
    const k = tabs.indexOf(b), step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (step === undefined && ev.key !== "Home" && ev.key !== "End") return;
    ev.preventDefault();
    const next = ev.key === "Home" ? tabs[0] : ev.key === "End" ? tabs[tabs.length - 1] : tabs[(k + step + tabs.length) % tabs.length];
    showPanel(next.dataset.panel);
    next.focus();
  });
}
$("#model").addEventListener("change", () => {
  if (state.drawn) schedulePredict();
  if (state.panel === "inside") loadInside();
  if (state.panel === "errors") loadErrors();
});

// ------------------------------------------------------------------ draw
const pad = $("#pad");
const ctx = pad.getContext("2d");
function clearPrediction() {
  $("#pred-digit").textContent = "";
  renderBars(null);
  $("#seen").getContext("2d").clearRect(0, 0, 168, 168);
  $("#hidden").replaceChildren();
  $("#unit-view").hidden = true;
  state.lastPredict = null;
}
function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  state.drawn = false;
  clearPrediction();
}
clearPad();
let last = null;
function pos(ev) {
  const r = pad.getBoundingClientRect();
  return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener("pointerdown", (ev) => {
  pad.setPointerCapture(ev.pointerId);
  last = pos(ev);
  stroke(last, last);
});
pad.addEventListener("pointermove", (ev) => {
  if (!last) return;
  const p = pos(ev);
  stroke(last, p);
  last = p;
});
for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => { last = null; });
function stroke(a, b) {
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = 18;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  if (a[0] === b[0] && a[1] === b[1]) { // a dot: a zero-length line is not stroked
    ctx.arc(a[0], a[1], 9, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  state.drawn = true;
  schedulePredict();
}
$("#clear").addEventListener("click", clearPad);

// Predict while drawing: at most every 250 ms during a stroke, and 100 ms after the last change.
let timer = null, lastSent = 0;
function schedulePredict() {
  clearTimeout(timer);
  const send = () => { lastSent = Date.now(); pad.toBlob((blob) => predict(blob, false)); };
  if (Date.now() - lastSent > 250) send();
  timer = setTimeout(send, 100);
}
let inflight = 0;
async function predict(blob, upload) {
  if (!model()) { say("no model yet: train a quick model first"); return; }
  const n = ++inflight;
  document.body.dataset.requested = String(n);
  try {
    const r = await api(`/api/predict?${q()}`, { method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" } });
    if (n !== inflight) return; // a newer drawing is on its way
    say("");
    state.lastPredict = r;
    $("#pred-digit").textContent = r.digit;
    renderBars(r.probabilities);
    renderSeen(r.input);
    renderHidden(r.hidden);
    if (state.unit) showUnit(state.unit.layer, state.unit.unit);
  } catch (e) {
    if (n === inflight) {
      say(e.message);
      if (upload) { clearPad(); } // a refused upload: the previous prediction must not stay on screen
    }
  } finally {
    if (n === inflight) document.body.dataset.shown = String(n); // the latest drawing's answer is on screen
  }
}
$("#upload").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  if (file.size > 5 * 1024 * 1024) { clearPad(); say(`${file.name} is larger than 5 MB: the lab takes images up to 5 MB`); return; }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    const s = Math.min(pad.width / img.width, pad.height / img.height);
    ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    URL.revokeObjectURL(url);
  };
  img.onerror = () => URL.revokeObjectURL(url);
  img.src = url;
  state.drawn = false;
  predict(file, true);
});

function renderBars(p) {
  const best = p ? p.indexOf(Math.max(...p)) : -1;
  $("#bars").replaceChildren(...Array.from({ length: 10 }, (_, k) => {
    const v = p ? p[k] : 0;
    return el("div", { className: "bar" + (k === best ? " top" : ""), id: `bar-${k}` }, [
      el("span", { className: "label", textContent: k }),
      el("span", { className: "track" }, [el("span", { className: "fill", style: `width:${(100 * v).toFixed(1)}%;display:block` })]),
      el("span", { className: "value", textContent: p ? (100 * v).toFixed(1) + "%" : "" }),
    ]);
  }));
}

function grayCanvas(canvas, values, cols, rows, cell, max) {
  canvas.width = cols * cell;
  canvas.height = rows * cell;
  const c = canvas.getContext("2d");
  c.fillStyle = "#000";
  c.fillRect(0, 0, canvas.width, canvas.height);
  const m = max || Math.max(1e-9, ...values);
  values.forEach((v, i) => {
    const g = Math.round(255 * Math.max(0, Math.min(1, v / m)));
    c.fillStyle = `rgb(${g},${g},${g})`;
    c.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell, cell);
  });
}
function renderSeen(x) { grayCanvas($("#seen"), x, 28, 28, 6, 1); }
function renderHidden(layers) {
  $("#hidden").replaceChildren(...layers.map((h, i) => {
    const cols = Math.ceil(Math.sqrt(h.length)), cell = Math.max(4, Math.floor(160 / cols));
    const canvas = el("canvas", { title: `hidden layer ${i + 1}: ${h.length} units; click a unit`, id: `hidden-${i + 1}` });
    grayCanvas(canvas, h, cols, Math.ceil(h.length / cols), cell);
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.floor((ev.clientX - r.left) * canvas.width / r.width / cell);
      const y = Math.floor((ev.clientY - r.top) * canvas.height / r.height / cell);
      const unit = y * cols + x;
      if (x < cols && unit < h.length) showUnit(i + 1, unit);
    });
    return el("figure", { style: "display:inline-block;margin:0 12px 0 0" },
              [canvas, el("figcaption", { className: "hint", textContent: `layer ${i + 1} (${h.length} units)` })]);
  }));
}
// One hidden unit: its incoming weights (layer 1: a 28x28 image, red > 0 > blue) and its activation now.
async function showUnit(layer, unit) {
  state.unit = { layer, unit };
  const view = $("#unit-view"), r = state.lastPredict;
  view.hidden = false;
  $("#unit-title").textContent = `layer ${layer}, unit ${unit}`;
  const act = r && r.hidden[layer - 1] ? r.hidden[layer - 1][unit] : null;
  $("#unit-activation").textContent = act === null || act === undefined ? "" : `activation on the drawn digit: ${act.toFixed(3)}`;
  const img = $("#unit-weights"), canvas = $("#unit-deep");
  try {
    if (layer === 1) {
      img.hidden = false; canvas.hidden = true;
      img.src = `/api/inside/unit.png?${q({ unit, t: Date.now() })}`;
    } else {
      const u = await api(`/api/inside/unit?${q({ layer, unit })}`);
      img.hidden = true; canvas.hidden = false;
      const w = u.weights, cols = Math.ceil(Math.sqrt(w.length)), m = Math.max(1e-9, ...w.map(Math.abs));
      canvas.width = canvas.height = cols * 12;
      const c = canvas.getContext("2d");
      c.fillStyle = "#fff"; c.fillRect(0, 0, canvas.width, canvas.height);
      w.forEach((v, i) => {
        const f = Math.min(1, Math.abs(v) / m);
        c.fillStyle = v > 0 ? `rgb(255,${255 - 255 * f},${255 - 255 * f})` : `rgb(${255 - 255 * f},${255 - 255 * f},255)`;
        c.fillRect((i % cols) * 12, Math.floor(i / cols) * 12, 11, 11);
      });
    }
    $("#unit-caption").textContent = layer === 1 ? "incoming weights from the 28×28 input pixels"
      : `incoming weights from the ${r ? r.hidden[layer - 2].length : ""} units of layer ${layer - 1}`;
  } catch (e) { say(e.message); }
}

$("#quick-train").addEventListener("click", async () => {
  try {
    $("#quick-train").disabled = true;
    await startRun("/api/train/quick", {});
  } catch (e) { say(e.message); $("#quick-train").disabled = false; }
});

// ------------------------------------------------------------------ charts
// series: {points: [[x, y], ...], color, label, dots, line (default true), step, marker: "dot" | "cross"}
// opts: percent (y), xlabel, xmin, xmax, yrange, empty, xlog (x on a log10 axis), cats (x: category indices),
//       xrange ([low, high] in x's own units: the whole axis, with a margin so the points at its ends show)
function drawChart(canvas, series, opts = {}) {
  const c = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 46, B = 24, T = 8, R = 10;
  c.clearRect(0, 0, W, H);
  const tx = opts.xlog ? Math.log10 : (x) => x;
  const usable = (p) => p[1] !== null && p[1] !== undefined && (!opts.xlog || p[0] > 0);
  series = series.map((s) => Object.assign({}, s, { points: s.points.filter(usable) }));
  const pts = series.flatMap((s) => s.points);
  canvas.dataset.points = String(pts.length);
  c.strokeStyle = "#ccd";
  c.strokeRect(L, T, W - L - R, H - T - B);
  c.fillStyle = "#667";
  c.font = "11px sans-serif";
  if (!pts.length) { c.fillText(opts.empty || "no data yet", L + 10, T + 20); return; }
  let [x0, x1] = [Math.min(...pts.map((p) => tx(p[0]))), Math.max(...pts.map((p) => tx(p[0])))];
  let [y0, y1] = opts.yrange || [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (opts.xmax !== undefined) x1 = Math.max(x1, opts.xmax);
  if (opts.xmin !== undefined) x0 = Math.min(x0, opts.xmin);
  let ends = null; // the axis' labelled ends when they differ from its drawn extent
  if (opts.xrange) {
    ends = [Math.min(x0, ...opts.xrange.map(tx)), Math.max(x1, ...opts.xrange.map(tx))];
    [x0, x1] = [ends[0] - 0.04 * (ends[1] - ends[0]), ends[1] + 0.04 * (ends[1] - ends[0])];
  }
  if (opts.cats) [x0, x1] = [-0.5, opts.cats.length - 0.5];
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { y0 -= opts.percent ? 0.05 : 0.5; y1 += opts.percent ? 0.05 : 0.5; }
  if (opts.percent) { y0 = Math.max(0, y0); y1 = Math.min(1, y1); if (y1 <= y0) y0 = Math.max(0, y1 - 0.1); }
  canvas.dataset.ymin = String(y0);
  canvas.dataset.ymax = String(y1);
  const X = (x) => L + (tx(x) - x0) / (x1 - x0) * (W - L - R);
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (let k = 0; k <= 4; k++) {
    const y = y0 + (y1 - y0) * k / 4;
    c.fillText(opts.percent ? (100 * y).toFixed(1) + "%" : y.toPrecision(3), 2, Y(y) + 4);
    c.strokeStyle = "#eef";
    c.beginPath(); c.moveTo(L, Y(y)); c.lineTo(W - R, Y(y)); c.stroke();
  }
  if (opts.cats) {
    opts.cats.forEach((label, i) => c.fillText(String(label), L + (i + 0.5) / opts.cats.length * (W - L - R) - 8, H - 6));
  } else {
    const back = opts.xlog ? (x) => 10 ** x : (x) => x;
    const num = (x) => Number.isInteger(x) ? String(x) : x.toPrecision(3);
    const [e0, e1] = ends || [x0, x1];
    c.fillText(num(back(e0)), X(back(e0)) - 4, H - 6);
    c.fillText(`${num(back(e1))} ${opts.xlabel || ""}`, Math.min(X(back(e1)) - 10, W - R - 80), H - 6);
  }
  let legend = L + 8;
  series.forEach((s, k) => {
    c.strokeStyle = c.fillStyle = s.color || COLORS[k % COLORS.length];
    c.lineWidth = s.width || 1.5;
    c.setLineDash(s.dash ? [5, 4] : []);
    c.globalAlpha = s.alpha || 1;
    if (s.line !== false) {
      c.beginPath();
      s.points.forEach((p, i) => {
        if (!i) c.moveTo(X(p[0]), Y(p[1]));
        else if (s.step) { c.lineTo(X(p[0]), Y(s.points[i - 1][1])); c.lineTo(X(p[0]), Y(p[1])); }
        else c.lineTo(X(p[0]), Y(p[1]));
      });
      c.stroke();
    }
    const marker = s.marker || (s.dots ? "dot" : null);
    for (const p of marker ? s.points : []) {
      const [px, py] = [X(p[0]), Y(p[1])];
      c.beginPath();
      if (marker === "cross") { c.moveTo(px - 3, py - 3); c.lineTo(px + 3, py + 3); c.moveTo(px - 3, py + 3); c.lineTo(px + 3, py - 3); c.stroke(); }
      else { c.arc(px, py, 3, 0, 7); c.fill(); }
    }
    c.globalAlpha = 1;
    if (s.label) { // the legend: a sample of the line, then its label in dark text
      c.beginPath(); c.moveTo(legend, T + 10); c.lineTo(legend + 14, T + 10); c.stroke();
      c.fillStyle = TEXT;
      c.fillText(s.label, legend + 18, T + 14);
      legend += 30 + c.measureText(s.label).width;
    }
    c.setLineDash([]);
  });
}

// ------------------------------------------------------------------ train
// The current run: its mini-batch costs and, per epoch, train (solid) and validation (dashed) cost and
// accuracy; earlier runs ticked in the Runs list are drawn faintly beside it (lab-runs.json keeps them).
function resetTraining() {
  state.training = { cost: [], epochs: [], total: 1, seen: 0, es: null, model: null };
  redrawTraining();
}
const pick = (rows, key) => rows.filter((e) => e[key] !== null && e[key] !== undefined).map((e) => [e.x !== undefined && e.x !== null ? e.x : e.epoch, e[key]]);
function redrawTraining() {
  const t = state.training, cost = [], acc = [];
  cost.push({ points: t.cost, color: "#9fb4e0", label: "batches" });
  cost.push({ points: pick(t.epochs, "train_cost"), color: COLORS[1], dots: true, label: "train", width: 2 });
  cost.push({ points: pick(t.epochs, "val_cost"), color: COLORS[1], dots: true, dash: true, label: "validation", width: 2 });
  acc.push({ points: pick(t.epochs, "train_accuracy"), color: COLORS[2], dots: true, label: "train", width: 2 });
  acc.push({ points: pick(t.epochs, "val_accuracy"), color: COLORS[2], dots: true, dash: true, label: "validation", width: 2 });
  let xmax = t.total;
  for (const [k, run] of compared().entries()) {
    const color = COLORS[(k + 3) % COLORS.length];
    xmax = Math.max(xmax, run.settings.epochs || 1);
    cost.push({ points: pick(run.epochs, "val_cost"), color, dash: true, alpha: 0.6 });
    acc.push({ points: pick(run.epochs, "val_accuracy"), color, dash: true, alpha: 0.6 });
  }
  drawChart($("#cost-chart"), cost, { xlabel: "epochs", xmin: 0, xmax });
  drawChart($("#acc-chart"), acc, { percent: true, xlabel: "epochs", xmin: 0, xmax, empty: "a point after each epoch" });
  $("#acc-chart").dataset.epochs = String(t.epochs.length);
}
const pctText = (v) => (100 * v).toFixed(2) + "%";
function epochText(ev) {
  if (!ev.partial) return `epoch ${ev.epoch}`;
  return `${Math.round(100 * ev.fraction)}% of epoch ${ev.epoch}`;
}
function trainingEvent(ev) {
  const t = state.training;
  t.seen = ev.i + 1;
  if (ev.type === "begin") { t.total = ev.epochs; $("#train-status").textContent = `training on ${ev.n_train} images...`; }
  if (ev.type === "batch") t.cost.push([ev.x, ev.cost]);
  if (ev.type === "epoch") {
    t.epochs.push(ev);
    const acc = ev.val_accuracy !== null && ev.val_accuracy !== undefined ? ev.val_accuracy : ev.train_accuracy;
    $("#train-status").textContent = (ev.partial ? `stopped during epoch ${ev.epoch}` : `epoch ${ev.epoch}/${t.total}`) +
      (acc != null ? `: validation accuracy ${pctText(acc)}` : "") + (ev.partial ? ` (after ${epochText(ev)})` : "");
  }
  if (ev.type === "done") {
    const last = t.epochs[t.epochs.length - 1];
    const how = last && last.partial ? `${ev.full_epochs} full epoch(s) and ${epochText(last)}` : `${ev.full_epochs} epoch(s)`;
    $("#train-status").textContent = `${ev.stopped ? "stopped" : "done"} after ${how}: ` +
      (ev.test_accuracy != null ? `test accuracy ${pctText(ev.test_accuracy)}, ` : "") + `saved ${ev.model}`;
    refreshModels(ev.model).then(() => { if (state.drawn) schedulePredict(); });
    $("#no-model").hidden = true;
    loadRuns();
  }
  if (ev.type === "error") { $("#train-status").textContent = ev.message; say(ev.message); $("#quick-train").disabled = false; }
  if (!$("#no-model").hidden) $("#quick-status").textContent = $("#train-status").textContent;
  redrawTraining();
}
function follow(since, replay) {
  const t = state.training;
  if (t.es) t.es.close();
  if (replay) { resetTraining(); since = 0; }
  $("#train-start").disabled = true;
  $("#train-stop").disabled = false;
  const es = new EventSource(`/api/train/events?since=${since}`);
  state.training.es = es;
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "end" || ev.type === "idle") {
      es.close();
      $("#train-start").disabled = state.gone;
      $("#train-stop").disabled = true;
      return;
    }
    trainingEvent(ev);
  };
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) { $("#train-start").disabled = state.gone; } else ping(); };
}
const FORM_KEYS = ["sizes", "optimizer", "lr", "epochs", "batch_size", "train_size", "device"];
function fillForm(settings) {
  const form = $("#train-form");
  for (const key of FORM_KEYS) {
    const v = settings[key];
    form.elements[key].value = v === null || v === undefined ? "" : Array.isArray(v) ? v.join(",") : v;
  }
}
async function startRun(path, body) {
  const r = await api(path, { json: body });
  fillForm(r.settings);
  resetTraining();
  state.training.model = r.model;
  $("#train-status").textContent = `starting ${r.model}...`;
  follow(0);
  return r;
}
$("#train-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = Object.fromEntries([...new FormData(ev.target).entries()].filter(([, v]) => v !== ""));
  try { await startRun("/api/train", body); say(""); } catch (e) { say(e.message); }
});
$("#recipe").addEventListener("change", async (ev) => {
  try {
    fillForm(await api(`/api/recipe?name=${encodeURIComponent(ev.target.value)}`));
    $("#recipe-note").textContent = ev.target.value
      ? `${ev.target.value}: its other settings (regularisation, schedule, ...) apply too.` : "numnet's defaults.";
  } catch (e) { say(e.message); }
});
$("#train-stop").addEventListener("click", () => api("/api/train/stop", { json: {} }).catch((e) => say(e.message)));

// Earlier runs (lab-runs.json in the lab's folder): their settings and final metrics; ticked ones are overlaid.
const runs = { list: [], ticked: new Set() };
function compared() { return runs.list.filter((r) => runs.ticked.has(runKey(r)) && r.model !== state.training.model); }
const runKey = (r) => `${r.model}@${r.started}`;
function describe(s) {
  return `${(s.sizes || []).join("-")}, ${s.optimizer} lr ${s.lr}, ${s.epochs} epochs, batch ${s.batch_size}` +
    (s.train_size ? `, ${s.train_size} images` : "") + (s.l2 ? `, L2 ${s.l2}` : "") + (s.keep_prob ? `, keep ${s.keep_prob}` : "");
}
async function loadRuns() {
  try {
    const r = await api("/api/runs");
    runs.list = r.runs.slice().reverse();
    $("#runs-note").textContent = r.problem || (runs.list.length ? "Tick runs to draw their validation curves (dashed, faint) beside the current one."
      : "No earlier run in this folder yet.");
    $("#runs").replaceChildren(...runs.list.map((run, k) => {
      const last = run.epochs[run.epochs.length - 1] || {};
      const acc = last.val_accuracy != null ? `validation ${pctText(last.val_accuracy)}` : "";
      const box = el("input", { type: "checkbox", checked: runs.ticked.has(runKey(run)), id: `run-${k}` });
      box.addEventListener("change", () => { if (box.checked) runs.ticked.add(runKey(run)); else runs.ticked.delete(runKey(run)); redrawTraining(); });
      const ran = run.epochs_run !== undefined ? `${+run.epochs_run.toFixed(2)} epochs` : "";
      return el("li", { className: "run" }, [box, el("label", { htmlFor: `run-${k}` }, [
        el("strong", { textContent: run.model }), ` ${run.status}${ran ? ", " + ran : ""}${acc ? ", " + acc : ""}`,
        el("br"), el("span", { className: "hint", textContent: describe(run.settings) })])]);
    }));
    redrawTraining();
  } catch (e) { say(e.message); }
}

// ------------------------------------------------------------------ inside
async function loadGrid() {
  try {
    const r = await api(`/api/test/grid?${q({ start: state.gridStart || 0, count: 40 })}`);
    $("#grid-range").textContent = `(test images ${r.start}–${r.start + r.images.length - 1} of ${r.total})`;
    $("#test-grid").replaceChildren(...r.images.map((g) => el("figure", { className: "pred" + (g.true === g.predicted ? "" : " wrong"), id: `pred-${g.index}` }, [
      el("img", { src: `/api/errors/image.png?index=${g.index}`, alt: `test image ${g.index}, a ${g.true}` }),
      el("figcaption", {}, g.top.map(([k, p], j) => el("div", { className: j ? "alt" : "top" }, [
        el("span", { textContent: `${k} ` }),
        el("span", { className: "pbar", style: `width:${Math.max(1, Math.round(40 * p))}px` }),
        el("span", { textContent: ` ${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%` })])))])));
  } catch (e) { say(e.message); }
}
$("#grid-next").addEventListener("click", () => { state.gridStart = (state.gridStart || 0) + 40; loadGrid(); });
$("#grid-prev").addEventListener("click", () => { state.gridStart = Math.max(0, (state.gridStart || 0) - 40); loadGrid(); });
async function loadInside() {
  if (!model()) { say("no model yet"); return; }
  loadGrid();
  $("#weights").src = `/api/inside/weights.png?${q({ count: 64, t: Date.now() })}`;
  try {
    const r = await api(`/api/inside?${q()}`);
    $("#inside-images").textContent = `(${r.images} test images, sizes ${r.sizes.join("-")})`;
    $("#histograms").replaceChildren(...r.activations.map((a) => {
      const canvas = el("canvas", { width: 340, height: 110 });
      const c = canvas.getContext("2d");
      const max = Math.max(...a.counts);
      const w = 300 / a.counts.length;
      c.fillStyle = COLORS[1];
      a.counts.forEach((n, k) => { const h = 80 * Math.sqrt(n / max); c.fillRect(30 + k * w, 88 - h, w - 1, h); });
      c.fillStyle = "#445";
      c.font = "11px sans-serif";
      c.fillText(`layer ${a.layer}: ${a.units} units, mean ${a.mean.toFixed(3)}, ${(100 * a.zero_fraction).toFixed(0)}% zeros, ${a.dead_units} dead`, 4, 10);
      c.fillText(a.edges[0].toPrecision(2), 24, 104);
      c.fillText(a.edges[a.edges.length - 1].toPrecision(2), 300, 104);
      return canvas;
    }));
    const head = el("tr", {}, ["layer", "shape", "‖W‖", "‖∇W‖", "ratio"].map((t) => el("th", { textContent: t })));
    $("#grad-table").replaceChildren(head, ...r.gradients.map((g) => el("tr", {}, [
      g.layer, g.shape.join("×"), g.weight_norm.toFixed(3), g.grad_norm.toExponential(2),
      g.ratio == null ? "-" : g.ratio.toExponential(2)].map((t) => el("td", { textContent: t })))));
    say("");
  } catch (e) { say(e.message); }
}

// ------------------------------------------------------------------ playground
// Settings live in the address (#play?dataset=moons&...), so a state can be shared or reloaded.
function playSettings() {
  const body = Object.fromEntries(new FormData($("#play-form")).entries());
  body.optimizers = [...document.querySelectorAll("#play-opts input:checked")].map((i) => i.value);
  return body;
}
function playToUrl(body) {
  const p = new URLSearchParams(Object.assign({}, body, { optimizers: body.optimizers.join(",") }));
  history.replaceState(null, "", `${location.pathname}#play?${p}`);
}
function playFromUrl() {
  if (!location.hash.startsWith("#play?")) return false;
  const p = new URLSearchParams(location.hash.slice(6)), form = $("#play-form");
  for (const [k, v] of p) {
    if (k === "optimizers") {
      const on = new Set(v.split(","));
      for (const box of document.querySelectorAll("#play-opts input")) box.checked = on.has(box.value);
    } else if (form.elements[k]) form.elements[k].value = v;
  }
  return true;
}
async function startPlay(ev) {
  ev && ev.preventDefault();
  const body = playSettings();
  try {
    const r = await api("/api/play", { json: body });
    say("");
    playToUrl(body);
    state.play = Object.assign(r, { since: 0, costs: {}, tests: {}, canvases: {}, failed: {} });
    $("#boundaries").replaceChildren(...r.optimizers.map((o, k) => {
      const canvas = el("canvas", { width: 192, height: 192, id: `play-canvas-${o}` });
      state.play.canvases[o] = canvas;
      state.play.costs[o] = [];
      state.play.tests[o] = [];
      drawBoundary(o, null);
      return el("figure", {}, [canvas, el("figcaption", {}, [
        el("span", { className: "swatch", style: `background:${COLORS[k % 5]}` }),
        el("span", { id: `play-cap-${o}`, textContent: o })])]);
    }));
    pollPlay();
  } catch (e) { say(e.message); }
}
function drawBoundary(opt, snap) {
  const p = state.play, canvas = p.canvases[opt], c = canvas.getContext("2d");
  const cell = canvas.width / p.side;
  c.fillStyle = "#fff";
  c.fillRect(0, 0, canvas.width, canvas.height);
  if (snap) snap.grid.forEach((k, i) => {
    const [r, g, b] = LIGHT[k % 5], f = 0.35 + 0.65 * (snap.confidence[i] - 1 / p.classes) / (1 - 1 / p.classes);
    c.fillStyle = `rgb(${255 - (255 - r) * f},${255 - (255 - g) * f},${255 - (255 - b) * f})`;
    c.fillRect((i % p.side) * cell, Math.floor(i / p.side) * cell, cell + 0.5, cell + 0.5);
  });
  const [x0, x1, y0, y1] = p.extent;
  const at = ([x, y]) => [(x - x0) / (x1 - x0) * canvas.width, (1 - (y - y0) / (y1 - y0)) * canvas.height];
  p.points.forEach((pt, i) => { // training points: filled
    c.fillStyle = COLORS[p.labels[i] % 5];
    c.beginPath(); c.arc(...at(pt), 2.5, 0, 7); c.fill();
  });
  c.lineWidth = 1.5;
  p.test_points.forEach((pt, i) => { // test points: rings
    c.strokeStyle = COLORS[p.test_labels[i] % 5];
    c.beginPath(); c.arc(...at(pt), 3, 0, 7); c.stroke();
  });
}
async function pollPlay() {
  const p = state.play;
  if (!p) return;
  try {
    const r = await api(`/api/play/events?since=${p.since}`);
    if (state.play !== p) return;
    const latest = {};
    for (const ev of r.events) {
      p.since = ev.i + 1;
      if (ev.type === "snapshot") {
        latest[ev.optimizer] = ev;
        if (ev.cost !== null) p.costs[ev.optimizer].push([ev.epoch, ev.cost]);
        if (ev.test_cost !== null) p.tests[ev.optimizer].push([ev.epoch, ev.test_cost]);
      }
      if (ev.type === "error" && ev.optimizer) p.failed[ev.optimizer] = ev.message;
      else if (ev.type === "error") say(ev.message);
    }
    for (const [o, ev] of Object.entries(latest)) {
      drawBoundary(o, ev);
      $(`#play-cap-${o}`).textContent = `${o}: epoch ${ev.epoch}, train ${(100 * ev.accuracy).toFixed(1)}%` +
        (ev.test_accuracy !== null ? `, test ${(100 * ev.test_accuracy).toFixed(1)}%` : "");
    }
    for (const [o, message] of Object.entries(p.failed)) {
      const cap = $(`#play-cap-${o}`);
      cap.textContent = `${o}: ${message}`;
      cap.classList.add("diverged");
      cap.parentElement.setAttribute("role", "alert");
    }
    drawChart($("#play-chart"), p.optimizers.flatMap((o, k) => [
      { points: p.costs[o], label: o, color: COLORS[k % 5] },
      { points: p.tests[o], color: COLORS[k % 5], dash: true }]), { xlabel: "epochs", xmin: 0, xmax: p.epochs });
    if (r.status === "running" || r.events.length) setTimeout(pollPlay, 200);
  } catch (e) { say(e.message); }
}
$("#play-form").addEventListener("submit", startPlay);
$("#play-stop").addEventListener("click", () => api("/api/play/stop", { json: {} }).catch((e) => say(e.message)));

// ------------------------------------------------------------------ errors
const filters = { true: "all", predicted: "all" };
for (const [id, key] of [["#f-true", "true"], ["#f-pred", "predicted"]]) {
  const s = $(id);
  s.append(el("option", { value: "all", textContent: "all" }), ...Array.from({ length: 10 }, (_, k) => el("option", { value: k, textContent: k })));
  s.addEventListener("change", () => { filters[key] = s.value; loadMistakes(); markCell(); });
}
async function loadErrors() {
  if (!model()) { say("no model yet"); return; }
  try {
    const r = await api(`/api/errors/confusion?${q()}`);
    $("#errors-acc").textContent = `(${model()}: test accuracy ${(100 * r.accuracy).toFixed(2)}%)`;
    const C = r.confusion;
    const offmax = Math.max(1, ...C.flatMap((row, i) => row.filter((_, j) => j !== i)));
    const head = el("tr", {}, [el("th", { textContent: "t\\p" }), ...C.map((_, j) => el("th", { textContent: j }))]);
    $("#confusion").replaceChildren(head, ...C.map((row, i) => el("tr", {}, [el("th", { textContent: i }), ...row.map((n, j) => {
      const a = i === j ? 0 : Math.min(1, n / offmax);
      const td = el("td", { textContent: n, id: `cell-${i}-${j}` });
      td.style.background = i === j ? "#e4ecfa" : `rgba(217,83,79,${0.08 + 0.8 * a})`;
      td.addEventListener("click", () => {
        filters.true = String(i); filters.predicted = String(j);
        $("#f-true").value = filters.true; $("#f-pred").value = filters.predicted;
        markCell();
        loadMistakes();
      });
      return td;
    })])));
    markCell();
    loadMistakes();
  } catch (e) { say(e.message); }
}
function markCell() {
  for (const td of document.querySelectorAll("#confusion td")) td.classList.remove("selected");
  const cell = $(`#cell-${filters.true}-${filters.predicted}`);
  if (cell) cell.classList.add("selected");
}
let mistakesAsked = 0;
async function loadMistakes() {
  const n = ++mistakesAsked;
  try {
    const r = await api(`/api/errors/mistakes?${q({ true: filters.true, predicted: filters.predicted })}`);
    if (n !== mistakesAsked) return; // the filter changed meanwhile: a newer gallery is on its way
    $("#mistake-count").textContent = `(${r.total} mistakes${r.total > r.mistakes.length ? `, the ${r.mistakes.length} most confident shown` : ""})`;
    $("#gallery").replaceChildren(...r.mistakes.map((m) => {
      const input = el("input", { value: m.tags, placeholder: "tags", className: "tag-input" });
      input.setAttribute("aria-label", `tags for test image ${m.index} (true ${m.true}, predicted ${m.predicted})`);
      const card = el("div", { className: "mistake", id: `mistake-${m.index}` }, [
        el("img", { src: `/api/errors/image.png?index=${m.index}`, alt: `test image ${m.index}` }),
        el("div", { textContent: `#${m.index}: ${m.true} → ${m.predicted} (${(100 * m.confidence).toFixed(0)}%)` }), input]);
      const save = async () => {
        try {
          await api("/api/errors/tag", { json: { model: model(), index: m.index, tags: input.value } });
          card.classList.add("saved");
        } catch (e) { say(e.message); }
      };
      input.addEventListener("keydown", (ev) => { card.classList.remove("saved"); if (ev.key === "Enter") save(); });
      input.addEventListener("change", save);
      return card;
    }));
  } catch (e) { say(e.message); }
}

// ------------------------------------------------------------------ search
// The Search panel polls while it is open: the storages and their studies, then the chosen study's trials.
const search = { key: "", last: "", timer: null, round: 0 };
const fmt = (v) => v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
const pct = (v) => v === null || v === undefined ? "" : (100 * v).toFixed(2) + "%";
async function pollSearch() {
  clearTimeout(search.timer);
  if (state.panel !== "search") return;
  const round = ++search.round; // one polling loop: a poll started meanwhile (a new study picked) takes over
  try {
    const list = await api("/api/search/list");
    const note = $("#search-note");
    if (!list.available) { note.hidden = false; note.textContent = list.message; return; }
    const studies = list.storages.flatMap((st) => st.studies.map((s) => ({ storage: st.id, label: st.label, ...s })));
    const broken = list.storages.filter((st) => st.error).map((st) => `${st.label}: ${st.error}`);
    note.hidden = studies.length > 0 && !broken.length;
    note.textContent = (studies.length ? "" : "No search here yet: run numnet search SPACE.toml --out DIR in the lab's folder " +
      "(DIR/journal.log is found), or start the lab with --storage URL. ") + broken.join("; ");
    const pick = $("#search-study");
    const keep = pick.value;
    const options = studies.map((s) => el("option", { value: JSON.stringify([s.storage, s.name]),
      textContent: `${s.name} (${s.label}, ${s.trials} trials)` + (s.numnet ? "" : ": not a numnet search") }));
    const sig = options.map((o) => o.value + o.textContent).join("|");
    if (sig !== search.key) { search.key = sig; pick.replaceChildren(...options); if (keep) pick.value = keep; }
    if (!pick.value && options.length) pick.value = options[0].value;
    if (pick.value) await loadStudy(JSON.parse(pick.value), round);
    $("#search-refreshed").textContent = `(read at ${new Date().toLocaleTimeString()})`;
  } catch (e) { say(e.message); }
  finally { if (state.panel === "search" && round === search.round) search.timer = setTimeout(pollSearch, 2000); }
}
$("#search-study").addEventListener("change", () => { search.last = ""; pollSearch(); });
async function loadStudy([storage, study], round) {
  const r = await api(`/api/search/trials?${new URLSearchParams({ storage, study })}`);
  if (round !== search.round) return; // a newer poll (another study) draws instead
  const text = JSON.stringify(r.trials) + JSON.stringify(r.params);
  if (text === search.last) return; // nothing new: keep what is drawn
  search.last = text;
  const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${k.toLowerCase()}`).join(", ");
  $("#search-counts").textContent = `${r.trials.length} trials: ${counts || "none yet"}; objective: ${r.objective}` +
    (r.running ? " (running)" : "");
  const b = r.best;
  $("#search-best").replaceChildren(b ? el("p", { id: "search-best-trial", textContent: `best: trial ${b.number}, ${pct(b.value)} — ` +
    Object.entries(b.params).map(([k, v]) => `${k} = ${fmt(v)}`).join(", ") }) : el("p", { className: "hint", textContent: "no completed trial yet" }));
  renderTrials(r);
  renderSearchPlots(r);
}
function renderTrials(r) {
  const names = r.params.map((p) => p.name);
  $("#search-table thead").replaceChildren(el("tr", {}, ["trial", "state", "value", ...names, "epochs", "seconds"]
    .map((t) => el("th", { textContent: t }))));
  $("#search-table tbody").replaceChildren(...r.trials.map((t) => el("tr", {
    id: `trial-${t.number}`, className: t.state + (r.best && r.best.number === t.number ? " best" : "") }, [
    t.number, t.state.toLowerCase() + (t.retry_of !== null && t.retry_of !== undefined ? ` (retry of ${t.retry_of})` : ""),
    pct(t.value), ...names.map((n) => fmt(t.params[n])), fmt(t.epochs_run),
    t.duration === null || t.duration === undefined ? "" : t.duration.toFixed(t.duration < 10 ? 2 : 1)].map((v) => el("td", { textContent: v })))));
}
function renderSearchPlots(r) {
  const done = r.trials.filter((t) => t.value !== null && (t.state === "COMPLETE" || t.state === "PRUNED"));
  const complete = done.filter((t) => t.state === "COMPLETE"), pruned = done.filter((t) => t.state === "PRUNED");
  let best = null;
  const running = [];
  for (const t of [...complete].sort((a, b) => a.number - b.number)) {
    best = best === null ? t.value : Math.max(best, t.value);
    running.push([t.number, best]);
  }
  drawChart($("#search-history"), [
    { points: running, color: COLORS[2], step: true },
    { points: complete.map((t) => [t.number, t.value]), color: COLORS[1], line: false, marker: "dot" },
    { points: pruned.map((t) => [t.number, t.value]), color: COLORS[0], line: false, marker: "cross" },
  ], { percent: true, xlabel: "trial", xrange: [0, Math.max(1, ...r.trials.map((t) => t.number))],
       empty: "a point per finished trial" });
  $("#search-params").replaceChildren(...r.params.map((p) => {
    const canvas = el("canvas", { width: 300, height: 200, id: `search-param-${p.name}`, className: "chart" });
    const x = (v) => p.scale === "choice" ? p.values.map(String).indexOf(String(v)) : p.scale === "one-minus-log" ? 1 - v : v;
    const pts = (ts) => ts.filter((t) => t.params[p.name] !== null && t.params[p.name] !== undefined).map((t) => [x(t.params[p.name]), t.value]);
    drawChart(canvas, [{ points: pts(complete), color: COLORS[1], line: false, marker: "dot" },
                       { points: pts(pruned), color: COLORS[0], line: false, marker: "cross" }],
              { percent: true, xlog: p.scale === "log" || p.scale === "one-minus-log", cats: p.scale === "choice" ? p.values : null,
                xrange: p.scale === "choice" ? null : [x(p.low), x(p.high)], empty: "no finished trial yet" });
    const axis = p.scale === "one-minus-log" ? `1 − ${p.name} (log scale)` : p.scale === "log" ? `${p.name} (log scale)` : p.name;
    return el("figure", { style: "margin:0" }, [canvas, el("figcaption", { className: "hint", textContent: axis })]);
  }));
}

// ------------------------------------------------------------------ start
(async () => {
  try {
    const s = await refreshModels();
    for (const r of s.recipes) $("#recipe").append(el("option", { value: r, textContent: r }));
    $("#optimizer").replaceChildren(...s.optimizers.map((o) => el("option", { value: o, textContent: o })));
    $("#optimizer").value = "adam";
    $("#device").replaceChildren(...s.devices.map((d) => el("option", { value: d, textContent: d })));
    $("#play-opts").append(...s.optimizers.map((o) => el("label", {}, [
      el("input", { type: "checkbox", value: o, checked: o !== "rmsprop" && o !== "fused_sgd" }), o])));
    if (playFromUrl()) showPanel("play");
    resetTraining();
    const t = await api("/api/train/status");
    if (t.settings) fillForm(t.settings); // a reload mid-run shows the running (or last) run's settings
    state.training.model = t.model || null;
    for (const ev of t.events) trainingEvent(ev);
    if (t.status === "running") follow(t.events.length);
    loadRuns();
    document.body.dataset.ready = "1";
  } catch (e) { say(e.message); }
})();
