// The page's behaviour. Everything from the server (keys above all) reaches the page through
// textContent or an attribute set by the DOM API, never through innerHTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const cfg = $("config").dataset;
  const maxBytes = Number(cfg.maxBytes);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let lastFile = null;
  let seq = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function message(text, kind) {
    const m = $("message");
    m.textContent = text || "";
    m.className = kind || "";
    m.hidden = !text;
  }
  function finish(state) {  // tests wait for data-seq to move and read data-state
    seq += 1;
    document.body.dataset.state = state;
    document.body.dataset.seq = String(seq);
  }
  function mib(n) { return (n / 1048576).toFixed(1) + " MiB"; }
  function k() { return $("k").value; }

  async function call(url, opts) {
    let r;
    try { r = await fetch(url, opts); }
    catch (e) { throw new Error("the page cannot reach 'sanny web' (" + e.message + ")"); }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok || !body) {
      if (body && body.error) throw new Error(body.error);
      if (r.status === 413) throw new Error("upload too large: the limit is " + mib(maxBytes));
      throw new Error("HTTP " + r.status + " " + r.statusText);
    }
    return body;
  }

  function tile(img, lines, cls) {
    const f = el("figure", cls);
    const box = el("div", "img");
    if (img) {
      const i = el("img");
      i.alt = "";
      i.addEventListener("error", () => box.replaceChildren(el("span", "miss", "no image file")));
      i.src = img;
      box.append(i);
    } else {
      box.append(el("span", "miss", "no image file"));
    }
    const cap = el("figcaption");
    for (const line of lines) cap.append(line);
    f.append(box, cap);
    return f;
  }
  function thumbUrl(key) { return "thumb?key=" + encodeURIComponent(key); }

  function render(ans) {
    const q = ans.query;
    const src = q.thumb || (q.key !== undefined ? thumbUrl(q.key) : null);
    $("query").replaceChildren(tile(src, [el("strong", "", "query"), el("span", "d label", q.label)], "query"));
    const figs = ans.results.map((r, i) => {
      const f = tile(thumbUrl(r.key), [el("span", "rank", "#" + (i + 1)), el("span", "key", r.key),
                                       el("span", "d", "distance " + Number(r.distance).toPrecision(4))]);
      f.dataset.rank = String(i + 1);
      f.title = "search by this image";
      f.tabIndex = 0;
      const go = () => searchKey(r.key);
      f.addEventListener("click", go);
      f.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      return f;
    });
    $("results").replaceChildren(...figs);
    const t = ans.timing || {};
    const ms = Object.values(t).reduce((a, b) => a + b, 0);
    message(ans.message || (ans.results.length + " neighbours in " + ms.toFixed(0) + " ms"), ans.message ? "error" : "ok");
  }

  async function run(fn) {
    document.body.dataset.state = "busy";
    message("searching…", "");
    try {
      render(await fn());
      finish("done");
    } catch (e) {
      message(e.message, "error");
      finish("error");
    }
    refreshInfo();
  }

  function tooBig(file) {
    if (file.size <= maxBytes) return false;
    message("upload too large: " + file.name + " is " + mib(file.size) + ", the limit is " + mib(maxBytes), "error");
    finish("error");
    return true;
  }

  function searchFile(file) {
    if (!file || tooBig(file)) return;
    lastFile = file;
    const reg = $("register");
    if (reg) reg.disabled = false;
    const fd = new FormData();
    fd.append("image", file, file.name);
    fd.append("k", k());
    run(() => call("api/search", { method: "POST", body: fd }));
  }

  function searchKey(key) {
    run(() => call("api/search-key", { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify({ key: key, k: k() }) }));
  }

  async function register() {
    if (!lastFile || tooBig(lastFile)) return;
    const fd = new FormData();
    fd.append("image", lastFile, lastFile.name);
    document.body.dataset.state = "busy";
    try {
      const ans = await call("api/register", { method: "POST", body: fd, headers: { "X-CSRFToken": csrf } });
      message(ans.message, "ok");
      finish("done");
    } catch (e) {
      message(e.message, "error");
      finish("error");
    }
    refreshInfo();
  }

  const FIELDS = ["backend", "health", "count", "dim", "metric", "S", "inner", "workers", "grid", "segments", "trained"];
  async function refreshInfo() {
    let info;
    try { info = await call("api/info"); }
    catch (e) { info = { ok: false, health: e.message }; }
    const dl = $("info");
    dl.replaceChildren(...FIELDS.filter((f) => info[f] !== undefined).map((f) => {
      const d = el("div");
      const dd = el("dd", "", f === "count" ? Number(info[f]).toLocaleString("en") : info[f]);
      dd.id = "info-" + f;
      if (f === "health") dd.className = info.ok ? "good" : "bad";
      d.append(el("dt", "", f), dd);
      return d;
    }));
    dl.dataset.ok = info.ok ? "yes" : "no";
    if (!info.ok && document.body.dataset.state === "idle") message("The index is unavailable: " + info.health, "error");
    else if (info.ok && info.count === 0 && document.body.dataset.state === "idle")
      message("The index is empty: register images first (sanny register DIR" +
              (cfg.register === "on" ? ", or drop an image and press Register" : "") + ").", "error");
    return info;
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) searchFile(e.dataTransfer.files[0]);
  });
  $("file").addEventListener("change", (e) => { searchFile(e.target.files[0]); e.target.value = ""; });
  if ($("register")) $("register").addEventListener("click", register);
  refreshInfo().then(() => { document.body.dataset.ready = "yes"; });
})();
