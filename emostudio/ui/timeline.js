// The annotator's timeline (the body of gr.HTML's js_on_load: element, trigger, props, watch).
//
// Regions in: props.value (timeline_value in timeline.py): the media, the model's curves,
// the annotation units, the selected range, one lane per annotator, traces, transcript.
// Regions out: custom events with data: 'seek' {t} (a click), 'span' {start, end} (an
// edge dragged), 'trace' {dimension, start, rate, values} (a continuous-rating pass).
//
// The view (zoom, pan, follow, speed, loop, rating) lives here, not in the value, so a
// new value from the server (a save) redraws the data and leaves the view where it was.
const root = element.querySelector(".es-tl") || element;
const ROW = { curves: 120, basic: 56, wave: 34, text: 22, lane: 22, gap: 6, ruler: 18 };
const DIM_COLOURS = { arousal: "#d62728", valence: "#2ca02c", dominance: "#1f77b4" };
const RATES = [0.5, 0.75, 1, 1.25, 1.5, 2];
const state = {
  id: null, view: [0, 1], follow: true, loop: false, rating: "", ratingValue: 0, recording: null,
  drag: null, data: null, width: 800,
};
root.innerHTML = `
  <div class="es-tl-top">
    <div class="es-tl-player"></div>
    <div class="es-tl-side">
      <div class="es-tl-name" aria-live="polite"></div>
      <div class="es-tl-bar" role="toolbar" aria-label="timeline controls">
        <button type="button" class="es-tl-play" aria-label="play or pause (space)">▶ play</button>
        <label>speed <select class="es-tl-speed" aria-label="playback speed">${RATES.map(
          (r) => `<option value="${r}" ${r === 1 ? "selected" : ""}>${r}x</option>`).join("")}</select></label>
        <label><input type="checkbox" class="es-tl-loop" aria-label="loop the selected range"> loop range</label>
        <label><input type="checkbox" class="es-tl-follow" checked aria-label="follow playback"> follow</label>
        <button type="button" class="es-tl-zoom-in" aria-label="zoom in (+)">+</button>
        <button type="button" class="es-tl-zoom-out" aria-label="zoom out (-)">-</button>
        <button type="button" class="es-tl-fit" aria-label="show the whole media (0)">fit</button>
      </div>
      <div class="es-tl-bar" role="group" aria-label="continuous rating">
        <label>rate continuously <select class="es-tl-rating" aria-label="dimension to rate while playing">
          <option value="">off</option><option value="arousal">arousal</option>
          <option value="valence">valence</option><option value="dominance">dominance</option></select></label>
        <input type="range" class="es-tl-rating-value" min="-1" max="1" step="0.05" value="0"
          aria-label="rating value (up and down keys while playing)">
        <output class="es-tl-rating-out">+0.00</output>
      </div>
      <div class="es-tl-transcript" aria-label="transcript"></div>
    </div>
  </div>
  <div class="es-tl-canvas-box"><canvas class="es-tl-canvas" tabindex="0"
    aria-label="timeline: click to play from there, drag the selection's edges to set a range, wheel to zoom"></canvas>
    <div class="es-tl-view" hidden></div></div>
  <p class="es-tl-message" role="status"></p>`;
const $ = (sel) => root.querySelector(sel);
const canvas = $(".es-tl-canvas");
const ctx = canvas.getContext("2d");
const media = () => $(".es-tl-player").querySelector("audio, video");

function duration() { return (state.data && state.data.media && state.data.media.duration) || 1; }
function clampView(v0, v1) {
  const d = duration();
  let w = Math.min(Math.max(v1 - v0, Math.min(0.5, d)), d);
  let s = Math.min(Math.max(v0, 0), d - w);
  return [s, s + w];
}
function setView(v0, v1) {
  state.view = clampView(v0, v1);
  const el = $(".es-tl-view");
  el.textContent = `${state.view[0].toFixed(3)},${state.view[1].toFixed(3)}`;
  root.dataset.view = el.textContent;  // read by the browser tests
  draw();
}
const LEFT = 92, RIGHT = 10;
function x(t) { return LEFT + ((t - state.view[0]) / (state.view[1] - state.view[0])) * (state.width - LEFT - RIGHT); }
root.esTimeX = (t) => canvas.getBoundingClientRect().left + x(t);  // screen x of time t (for tests)
function tAt(px) { return state.view[0] + ((px - LEFT) / (state.width - LEFT - RIGHT)) * (state.view[1] - state.view[0]); }

function layout() {
  const d = state.data || {};
  const rows = [["ruler", ROW.ruler], ["curves", ROW.curves], ["basic", ROW.basic]];
  if (d.peaks) rows.push(["wave", ROW.wave]);
  rows.push(["text", ROW.text]);
  for (const lane of d.lanes || []) rows.push(["lane:" + lane.name, ROW.lane]);
  let y = 0;
  const out = {};
  for (const [name, h] of rows) { out[name] = [y, h]; y += h + ROW.gap; }
  out.height = y;
  return out;
}

function draw() {
  const d = state.data;
  const box = $(".es-tl-canvas-box");
  state.width = Math.max(box.clientWidth || 800, 300);
  const rows = layout();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = state.width * dpr; canvas.height = rows.height * dpr;
  canvas.style.width = state.width + "px"; canvas.style.height = rows.height + "px";
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, state.width, rows.height);
  ctx.font = "11px sans-serif";
  if (!d || !d.media) return;
  const [v0, v1] = state.view;
  const label = (name, y, h) => { ctx.fillStyle = "#444"; ctx.textBaseline = "middle"; ctx.fillText(name, 4, y + h / 2, LEFT - 8); };
  // ruler
  const [ry, rh] = rows.ruler;
  const step = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300].find((s) => (v1 - v0) / s <= 12) || 600;
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#666";
  for (let t = Math.ceil(v0 / step) * step; t <= v1 + 1e-9; t += step) {
    ctx.beginPath(); ctx.moveTo(x(t), ry + rh - 5); ctx.lineTo(x(t), rows.height); ctx.stroke();
    ctx.fillText(`${+t.toFixed(2)} s`, x(t) + 2, ry + 7);
  }
  label("seconds", ry, rh);
  // the selected range, under everything
  if (d.selection) {
    const [s, e] = d.selection;
    ctx.fillStyle = "rgba(255, 214, 0, 0.22)";
    ctx.fillRect(x(s), ry + rh, Math.max(2, x(e) - x(s)), rows.height - ry - rh);
    ctx.fillStyle = "#ffab00";
    for (const t of [s, e]) ctx.fillRect(x(t) - 1.5, ry + rh, 3, rows.height - ry - rh);
  }
  // units (segments) as faint separators
  ctx.strokeStyle = "rgba(0,0,0,0.15)";
  for (const [s, e] of d.units || []) for (const t of [s, e]) {
    ctx.beginPath(); ctx.moveTo(x(t), ry + rh); ctx.lineTo(x(t), rows.height); ctx.stroke();
  }
  // A/V/D curves and the traces people recorded over them
  const [cy, ch] = rows.curves;
  const yv = (v) => cy + ch / 2 - (v * ch) / 2;
  ctx.strokeStyle = "#ddd"; ctx.beginPath(); ctx.moveTo(LEFT, yv(0)); ctx.lineTo(state.width - RIGHT, yv(0)); ctx.stroke();
  ctx.textBaseline = "middle";
  ["arousal", "valence", "dominance"].forEach((dim, i) => {
    ctx.fillStyle = DIM_COLOURS[dim]; ctx.fillText(dim, 4, cy + ch / 2 + (i - 1) * 14, LEFT - 8);
  });
  const line = (ts, vs, colour, dash, width) => {
    ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.lineWidth = width; ctx.beginPath();
    let pen = false;
    for (let i = 0; i < ts.length; i++) {
      if (vs[i] === null || vs[i] === undefined) { pen = false; continue; }
      if (pen) ctx.lineTo(x(ts[i]), yv(vs[i])); else ctx.moveTo(x(ts[i]), yv(vs[i]));
      pen = true;
    }
    ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
  };
  const curves = d.curves || { t: [] };
  for (const dim of ["arousal", "valence", "dominance"]) if (curves[dim]) line(curves.t, curves[dim], DIM_COLOURS[dim], [], 1.5);
  for (const tr of d.traces || []) {
    const ts = tr.values.map((_, i) => tr.start + (i + 0.5) / tr.rate);
    line(ts, tr.values, DIM_COLOURS[tr.dimension] || "#000", [5, 3], 2.5);
  }
  if (state.recording) {
    const r = state.recording;
    const ks = Object.keys(r.samples).map(Number).sort((a, b) => a - b);
    line(ks.map((k) => (k + 0.5) / r.rate), ks.map((k) => r.samples[k]), DIM_COLOURS[r.dimension], [2, 2], 3);
  }
  // basic emotions, stacked
  const [by, bh] = rows.basic;
  label("emotions", by, bh);
  const basic = d.basic || { names: [], p: [] };
  const hop = curves.t.length > 1 ? curves.t[1] - curves.t[0] : duration();
  curves.t.forEach((t, i) => {
    const w = curves.w ? curves.w[i] : hop;  // a long media: overview points are wider
    let acc = 0;
    basic.names.forEach((name, k) => {
      const p = basic.p[i][k];
      ctx.fillStyle = basic.colours[k];
      ctx.fillRect(x(t - w / 2), by + bh - (acc + p) * bh, Math.max(1, x(t + w / 2) - x(t - w / 2)), p * bh);
      acc += p;
    });
  });
  // waveform
  if (d.peaks) {
    const [wy, wh] = rows.wave;
    label("waveform", wy, wh);
    const { rate, lo, hi, scale } = d.peaks;
    const start = d.peaks.start || 0, end = start + lo.length / rate;
    const bars = (rate, lo, hi, from, to, skip) => {
      const i0 = Math.max(0, Math.floor((from - 0) * rate)), i1 = Math.min(lo.length, Math.ceil(to * rate));
      for (let i = i0; i < i1; i++) {
        if (skip && (i + 1) / rate > start && i / rate < end) continue;
        const top = wy + wh / 2 - (hi[i] / scale) * (wh / 2), bottom = wy + wh / 2 - (lo[i] / scale) * (wh / 2);
        ctx.fillRect(x(i / rate + (skip ? 0 : start)), top, Math.max(1, x((i + 1) / rate) - x(i / rate)), Math.max(1, bottom - top));
      }
    };
    ctx.fillStyle = "#78909c";
    bars(rate, lo, hi, v0 - start, v1 - start, false);
    if (d.envelope) { ctx.fillStyle = "#b0bec5"; bars(d.envelope.rate, d.envelope.lo, d.envelope.hi, v0, v1, true); }
  }
  // transcript spans
  const [ty, th] = rows.text;
  label("transcript", ty, th);
  for (const seg of d.transcript || []) {
    ctx.fillStyle = "#b2dfdb"; ctx.fillRect(x(seg.s), ty + 2, Math.max(1, x(seg.e) - x(seg.s)), th - 4);
  }
  // one lane per annotator (and one for imported labels, one for pseudo-labels)
  for (const lane of d.lanes || []) {
    const [ly, lh] = rows["lane:" + lane.name];
    label(lane.name, ly, lh);
    ctx.fillStyle = "#f5f5f5"; ctx.fillRect(LEFT, ly, state.width - LEFT - RIGHT, lh);
    for (const s of lane.spans) {
      const x0 = x(s.s), x1 = x(s.e);
      ctx.fillStyle = s.colour || "#90a4ae"; ctx.fillRect(x0, ly + 1, Math.max(2, x1 - x0), lh - 2);
      ctx.strokeStyle = "#fff"; ctx.strokeRect(x0, ly + 1, Math.max(2, x1 - x0), lh - 2);
      ctx.fillStyle = "#000"; ctx.fillText(s.text, x0 + 3, ly + lh / 2, Math.max(0, x1 - x0 - 4));
    }
  }
  // the playhead
  const m = media();
  if (m) {
    ctx.fillStyle = "#d50000"; ctx.fillRect(x(m.currentTime) - 1, 0, 2, rows.height);
  }
}

function showTranscript() {
  const box = $(".es-tl-transcript");
  const segs = (state.data && state.data.transcript) || [];
  box.innerHTML = "";
  for (const seg of segs) {
    const span = document.createElement("span");
    span.textContent = seg.text + " ";
    span.dataset.s = seg.s; span.dataset.e = seg.e;
    span.addEventListener("click", () => { const m = media(); if (m) m.currentTime = seg.s; trigger("seek", { t: seg.s }); });
    box.appendChild(span);
  }
  box.hidden = segs.length === 0;
}

function load(value) {
  state.data = value || null;
  const d = state.data;
  const player = $(".es-tl-player");
  $(".es-tl-message").textContent = (d && d.message) || "";
  if (!d || !d.media) { endPass(); player.innerHTML = ""; state.id = null; draw(); return; }
  if (d.media.id !== state.id) {  // another clip: a new player and the whole clip in view
    endPass();  // a pass under way is handed over for the clip it was rated on
    state.id = d.media.id;
    player.innerHTML = "";
    const m = document.createElement(d.media.kind);
    m.src = d.media.url; m.controls = true; m.preload = "auto";
    m.setAttribute("aria-label", `player: ${d.media.name}`);
    m.playbackRate = Number($(".es-tl-speed").value);
    m.addEventListener("play", startPass);
    m.addEventListener("seeking", () => { if (state.recording) state.recording.last = null; });
    m.addEventListener("pause", endPass);
    m.addEventListener("ended", endPass);
    player.appendChild(m);
    $(".es-tl-name").textContent = `${d.media.name} · ${d.media.duration.toFixed(1)} s`;
    state.view = [0, d.media.duration];
  }
  showTranscript();
  // what is drawn, named for the browser tests (and screen readers' curious users)
  root.dataset.lanes = (d.lanes || []).map((l) => l.name).join(",");
  root.dataset.traces = (d.traces || []).map((t) => `${t.annotator}:${t.dimension}`).join(",");
  root.dataset.selection = d.selection ? d.selection.map((t) => t.toFixed(3)).join(",") : "";
  // the selected segment always in view, at the current zoom
  // (by panning as little as possible: the zoom is the annotator's and stays)
  let [v0, v1] = state.view;
  const w = v1 - v0;
  if (d.selection) {
    const [s, e] = d.selection;
    if (e - s <= w) {
      if (s < v0) v0 = s; else if (e > v1) v0 = e - w;
    } else if (e < v0 || s > v1) v0 = s;  // longer than the view: at least its start
    v1 = v0 + w;
  }
  setView(v0, v1);
}

// -- continuous rating: a pass runs from play to pause, sampled on the media's time axis
// A pass belongs to the player (and media) it started on, whatever happens to the page.
function startPass() {
  const m = media();
  const dim = $(".es-tl-rating").value;
  if (!dim || !m || state.recording) return;
  const rate = (state.data && state.data.rate) || 10;
  state.recording = { dimension: dim, rate, samples: {}, last: null, el: m, mediaId: state.id };
  sample();
}
function sample() {
  const r = state.recording;
  if (!r) return;
  const k = Math.floor(r.el.currentTime * r.rate + 1e-6);
  // fill the slots played since the last sample with the value held then; a seek is a gap
  if (r.last !== null && k > r.last && k - r.last <= 5) for (let j = r.last + 1; j <= k; j++) r.samples[j] = state.ratingValue;
  else r.samples[k] = state.ratingValue;
  r.last = k;
}
function endPass() {
  sample();  // up to where playback stopped
  const r = state.recording;
  state.recording = null;
  if (!r) return;
  const ks = Object.keys(r.samples).map(Number).sort((a, b) => a - b);
  if (ks.length < 2) return;
  const values = [];
  for (let k = ks[0]; k <= ks[ks.length - 1]; k++) values.push(k in r.samples ? +r.samples[k].toFixed(3) : null);
  trigger("trace", { media_id: r.mediaId, dimension: r.dimension, start: ks[0] / r.rate, rate: r.rate, values });
}
function setRating(v) {
  state.ratingValue = Math.max(-1, Math.min(1, Math.round(v * 20) / 20));
  $(".es-tl-rating-value").value = state.ratingValue;
  $(".es-tl-rating-out").textContent = (state.ratingValue >= 0 ? "+" : "") + state.ratingValue.toFixed(2);
  if (state.recording) sample();
}
$(".es-tl-rating-value").addEventListener("input", (e) => setRating(Number(e.target.value)));
root.addEventListener("es-rate", (e) => setRating(state.ratingValue + e.detail));  // from studio.js's keys

// -- controls
function togglePlay() { const m = media(); if (m) m.paused ? m.play() : m.pause(); }
root.addEventListener("es-toggle-play", togglePlay);
$(".es-tl-play").addEventListener("click", togglePlay);
$(".es-tl-speed").addEventListener("change", (e) => { const m = media(); if (m) m.playbackRate = Number(e.target.value); });
$(".es-tl-loop").addEventListener("change", (e) => { state.loop = e.target.checked; });
$(".es-tl-follow").addEventListener("change", (e) => { state.follow = e.target.checked; });
function zoom(f, around) {
  const [v0, v1] = state.view;
  const c = around ?? (v0 + v1) / 2;
  setView(c - (c - v0) * f, c + (v1 - c) * f);
}
root.addEventListener("es-zoom", (e) => (e.detail === 0 ? setView(0, duration()) : zoom(e.detail)));
$(".es-tl-zoom-in").addEventListener("click", () => zoom(0.5));
$(".es-tl-zoom-out").addEventListener("click", () => zoom(2));
$(".es-tl-fit").addEventListener("click", () => setView(0, duration()));
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {  // pan
    const w = state.view[1] - state.view[0];
    const dt = ((e.shiftKey ? e.deltaY : e.deltaX) / state.width) * w;
    setView(state.view[0] + dt, state.view[1] + dt);
  } else zoom(e.deltaY > 0 ? 1.25 : 0.8, tAt(e.offsetX));
}, { passive: false });

// -- pointer: click seeks, dragging a selection edge sets a range, dragging elsewhere pans
canvas.addEventListener("pointerdown", (e) => {
  if (e.button !== 0 || !state.data) return;  // the main button only
  const sel = state.data.selection;
  const edge = sel ? [0, 1].find((i) => Math.abs(x(sel[i]) - e.offsetX) <= 6) : undefined;
  state.drag = { x: e.offsetX, edge, view: [...state.view], moved: false, sel: sel ? [...sel] : null };
  canvas.setPointerCapture(e.pointerId);
});
canvas.addEventListener("pointermove", (e) => {
  if (state.recording) {  // rating: the curves' row is the vertical scale (+1 at the top, -1 at the bottom)
    const [cy, ch] = layout().curves;
    if (e.offsetY >= cy && e.offsetY <= cy + ch) setRating(1 - (2 * (e.offsetY - cy)) / ch);
  }
  const sel = state.data && state.data.selection;
  canvas.style.cursor = sel && [0, 1].some((i) => Math.abs(x(sel[i]) - e.offsetX) <= 6) ? "ew-resize" : "pointer";
  const g = state.drag;
  if (!g) return;
  if (Math.abs(e.offsetX - g.x) > 3) g.moved = true;
  if (!g.moved) return;
  if (g.edge !== undefined && state.data.selection) {
    const t = Math.min(Math.max(tAt(e.offsetX), 0), duration());
    const s = [...g.sel]; s[g.edge] = t;
    state.data.selection = [Math.min(...s), Math.max(...s)];
    draw();
  } else {
    const dt = ((g.x - e.offsetX) / (state.width - LEFT - RIGHT)) * (g.view[1] - g.view[0]);
    setView(g.view[0] + dt, g.view[1] + dt);
  }
});
for (const ev of ["pointercancel", "lostpointercapture"]) canvas.addEventListener(ev, () => { state.drag = null; });
canvas.addEventListener("pointerup", (e) => {
  const g = state.drag;
  state.drag = null;
  if (!g || !state.data) return;
  if (!g.moved) {
    const t = Math.min(Math.max(tAt(e.offsetX), 0), duration());
    const m = media(); if (m) m.currentTime = t;
    trigger("seek", { t });
  } else if (g.edge !== undefined && state.data.selection) {
    const [s, en] = state.data.selection;
    trigger("span", { start: +s.toFixed(3), end: +en.toFixed(3) });
  }
});

// -- playback: the playhead, follow, loop
function tick() {
  if (!root.isConnected) return;
  const m = media();
  if (m && !m.paused) {
    const sel = state.data && state.data.selection;
    if (state.loop && sel && m.currentTime >= sel[1]) {  // each time round the loop is a pass of its own
      const rating = !!state.recording;
      if (rating) endPass();
      m.currentTime = sel[0];
      if (rating) startPass();
    }
    const [v0, v1] = state.view;
    if (state.follow && (m.currentTime > v1 || m.currentTime < v0)) setView(m.currentTime, m.currentTime + (v1 - v0));
    if (state.recording) sample();
    for (const span of $(".es-tl-transcript").children) {
      span.classList.toggle("es-tl-now", m.currentTime >= Number(span.dataset.s) && m.currentTime < Number(span.dataset.e));
    }
    $(".es-tl-play").textContent = "❚❚ pause";
    draw();
  } else if (state.playing) draw();  // once more where it stopped
  if (!m || m.paused) $(".es-tl-play").textContent = "▶ play";
  state.playing = !!(m && !m.paused);
  setTimeout(() => requestAnimationFrame(tick), 50);
}
new ResizeObserver(() => draw()).observe($(".es-tl-canvas-box"));
watch("value", () => load(props.value));
load(props.value);
tick();
