// emostudio browser glue: plot <-> player sync, click-to-seek, keyboard shortcuts.
// Gradio re-renders components freely, so everything is found by element id on each
// tick instead of being bound once.
(() => {
  const PAGES = ["inspect", "annotate"];
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

  function tick() {
    for (const p of PAGES) {
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
  document.addEventListener("keydown", (e) => {
    const media = player("annotate");
    const page = byId("es-annotate-plot");
    if (!page || page.offsetParent === null) return; // shortcuts only on the Annotate page
    const t = e.target;
    const tag = (t.tagName || "").toLowerCase();
    const typing = tag === "textarea" || tag === "select" || t.isContentEditable ||
      (tag === "input" && !["radio", "checkbox", "button", "range"].includes(t.type));
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key >= "1" && e.key <= "7") {
      document.querySelectorAll("#es-annotate-label input[type=radio]")[Number(e.key) - 1]?.click();
    } else if (e.key === " ") {
      if (media) media.paused ? media.play() : media.pause();
    } else if (e.key === "ArrowLeft") {
      click("es-annotate-prev");
    } else if (e.key === "ArrowRight") {
      click("es-annotate-next");
    } else if (e.key === "Enter") {
      click("es-annotate-save-next");
    } else {
      return;
    }
    e.preventDefault();
  });
})();
