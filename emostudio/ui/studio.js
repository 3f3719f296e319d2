// emostudio browser glue: the Inspect page's plot <-> player sync and click-to-seek, the
// Annotate page's keyboard shortcuts (handed to its timeline as events), and the
// annotator's name remembered in this browser.
// Gradio re-renders components freely, so everything is found by element id on each
// tick instead of being bound once.
(() => {
  const PAGES = ["inspect"];
  const byId = (id) => document.getElementById(id);
  const player = (p) => byId(`es-${p}-player`)?.querySelector("audio, video") ?? null;
  const plot = (p) => byId(`es-${p}-plot`)?.querySelector(".js-plotly-plot") ?? null;
  const field = (id) => byId(id)?.querySelector("textarea, input") ?? null;
  const lastSpan = {};
  const lastClick = {};

  // Hand a value to Python through a hidden textbox (Gradio listens to its input event).
  function send(id, value) {
    const input = field(id);
    if (!input) return;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function xAxis(gd) {
    return gd._fullLayout && gd._fullLayout.xaxis && gd._fullLayout.xaxis.l2p ? gd._fullLayout.xaxis : null;
  }

  function overlay(gd, cls) {
    let el = gd.querySelector(":scope > ." + cls);
    if (!el) {
      el = document.createElement("div");
      el.className = cls;
      if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
      gd.appendChild(el);
    }
    return el;
  }

  function place(gd, el, t0, t1) {
    const xa = xAxis(gd);
    const m = gd._fullLayout.margin;
    const left = xa._offset + xa.l2p(Math.max(t0, xa.range[0]));
    const right = xa._offset + xa.l2p(Math.min(t1, xa.range[1]));
    if (right < xa._offset || left > xa._offset + xa._length) { el.style.display = "none"; return; }
    el.style.left = left + "px";
    el.style.width = Math.max(2, right - left) + "px";
    el.style.top = m.t + "px";
    el.style.height = gd._fullLayout.height - m.t - m.b + "px";
    el.style.display = "block";
  }

  function bindClicks(p, gd) {
    if (gd.__esBound || typeof gd.on !== "function") return;
    gd.__esBound = true;
    gd.on("plotly_click", (ev) => {
      const xa = xAxis(gd);
      if (!xa || !ev.event) return;
      const t = xa.p2l(ev.event.clientX - gd.getBoundingClientRect().left - xa._offset);
      const media = player(p);
      if (media) media.currentTime = Math.max(0, t);
      lastClick[p] = Date.now();
      send(`es-${p}-click`, `${t.toFixed(3)}@${Date.now()}`);
    });
  }

  // A long media: the overview of the whole media moves the full-resolution window (a click
  // there, or playback leaving the window), and shows where the player is.
  const overviewPlot = (p) => byId(`es-${p}-overview`)?.querySelector(".js-plotly-plot") ?? null;
  const windowAsked = {};

  function followWindow(p) {
    const gd = overviewPlot(p);
    const media = player(p);
    const range = field(`es-${p}-window-range`)?.value || "";
    if (!gd || !xAxis(gd) || !range) return;
    if (!gd.__esBound && typeof gd.on === "function") {
      gd.__esBound = true;
      gd.on("plotly_click", (ev) => {
        const xa = xAxis(gd);
        if (!xa || !ev.event) return;
        const t = xa.p2l(ev.event.clientX - gd.getBoundingClientRect().left - xa._offset);
        if (media) media.currentTime = Math.max(0, t);
        send(`es-${p}-window`, `${t.toFixed(3)}@${Date.now()}`);
      });
    }
    const cursor = overlay(gd, "es-cursor");
    if (media) place(gd, cursor, media.currentTime, media.currentTime); else cursor.style.display = "none";
    const [w0, w1] = range.split(",").map(Number);
    place(gd, overlay(gd, "es-window"), w0, w1);  // drawn here: moving the window never redraws the overview
    if (media && !media.paused && (media.currentTime < w0 || media.currentTime >= w1) && windowAsked[p] !== range) {
      windowAsked[p] = range;  // once per window: the reply brings a new range
      send(`es-${p}-window`, `${(media.currentTime + (w1 - w0) / 2 - 1).toFixed(3)}@${Date.now()}`);
    }
  }

  // Figures the server keeps for the page (emostudio.ui.context.Figures): each element names
  // one; it is fetched and drawn with the page's plotly.js as soon as the element arrives.
  // Gradio may update an element in place, so it is drawn again when the name changes.
  // Secondary figures (below the main ones) wait until the main ones that came with them
  // are drawn and painted: drawing is what takes longest, and the main ones are looked at first.
  let drawing = false;
  function drawFigures() {
    drawing = false;
    if (!window.Plotly) return;
    const main = [];
    const secondary = [];
    for (const div of document.querySelectorAll(".es-figure[data-src]")) {
      const src = div.dataset.src;
      if (div.__esDrawn === src) continue;
      div.__esDrawn = src;
      const fig = fetch(src).then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status))));
      (div.dataset.secondary ? secondary : main).push([div, src, fig]);
    }
    const draw = ([div, src, fig]) => fig
      .then((f) => {
        if (div.dataset.src === src) return window.Plotly.newPlot(div, f.data, f.layout, { displaylogo: false, responsive: true });
      })
      .catch(() => { div.textContent = "This figure is no longer kept: choose the media again."; });
    const drawn = Promise.allSettled(main.map(draw));
    if (secondary.length) drawn.then(() => requestAnimationFrame(() => setTimeout(() => secondary.forEach(draw))));
  }
  // at once on a change (fetching starts before the page's next frame), at most once a task
  new MutationObserver(() => {
    if (!drawing) { drawing = true; queueMicrotask(drawFigures); }
  }).observe(document.documentElement, { childList: true, subtree: true });

  function tick() {
    drawFigures();  // also once plotly.js has loaded
    for (const p of PAGES) {
      followWindow(p);
      const gd = plot(p);
      if (!gd || !xAxis(gd)) continue;
      bindClicks(p, gd);
      const media = player(p);
      const span = field(`es-${p}-span`)?.value || "";
      const [s0, s1] = span.split(",").map(Number);
      const selection = overlay(gd, "es-selection");
      if (span && !isNaN(s0)) place(gd, selection, s0, s1); else selection.style.display = "none";
      // a new selection from the server (arrows, queue) moves the player to it, unless the player
      // is already inside it or the selection answers a click (the player is where the click was)
      if (span !== lastSpan[p]) {
        lastSpan[p] = span;
        const clicked = Date.now() - (lastClick[p] || 0) < 3000;
        if (media && span && !isNaN(s0) && !clicked && (media.currentTime < s0 || media.currentTime >= s1)) {
          media.currentTime = s0;
        }
      }
      const cursor = overlay(gd, "es-cursor");
      if (media) place(gd, cursor, media.currentTime, media.currentTime); else cursor.style.display = "none";
    }
  }
  setInterval(tick, 100);

  const click = (id) => byId(id)?.click();
  const timeline = () => byId("es-annotate-timeline")?.querySelector(".es-tl") ?? null;
  const tell = (name, detail) => timeline()?.dispatchEvent(new CustomEvent(name, { detail }));
  document.addEventListener("keydown", (e) => {
    const tl = timeline();
    if (!tl || tl.offsetParent === null) return; // shortcuts only on the Annotate page
    const t = e.target;
    const tag = (t.tagName || "").toLowerCase();
    // a focused input, list or button keeps its own keys (Space presses a button, arrows move a radio)
    if (["input", "textarea", "select", "button", "option"].includes(tag) || t.isContentEditable ||
        t.getAttribute?.("role") === "option" || t.closest?.("button, [role=listbox], [role=radiogroup]")) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const rating = tl.querySelector(".es-tl-rating")?.value;
    if (e.key >= "1" && e.key <= "7") {
      document.querySelectorAll("#es-annotate-label input[type=radio]")[Number(e.key) - 1]?.click();
    } else if (e.key === " ") {
      tell("es-toggle-play");
    } else if (e.key === "ArrowLeft") {
      click("es-annotate-prev");
    } else if (e.key === "ArrowRight") {
      click("es-annotate-next");
    } else if ((e.key === "ArrowUp" || e.key === "ArrowDown") && rating) {
      tell("es-rate", e.key === "ArrowUp" ? 0.1 : -0.1);
    } else if (e.key === "+" || e.key === "=") {
      tell("es-zoom", 0.5);
    } else if (e.key === "-") {
      tell("es-zoom", 2);
    } else if (e.key === "0") {
      tell("es-zoom", 0);
    } else if (e.key === "Enter") {
      click("es-annotate-save-next");
    } else {
      return;
    }
    e.preventDefault();
  });

  // The annotator's name, remembered in this browser (only when the studio has no sign-in).
  const NAME_KEY = "emostudio.annotator";
  function rememberName() {
    const box = field("es-annotate-annotator");
    if (!box || box.__esName) return;
    box.__esName = true;
    const saved = localStorage.getItem(NAME_KEY);
    if (saved && !box.value) {
      box.value = saved;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
    box.addEventListener("change", () => localStorage.setItem(NAME_KEY, box.value.trim()));
    box.addEventListener("input", () => localStorage.setItem(NAME_KEY, box.value.trim()));
  }
  setInterval(rememberName, 500);
})();
