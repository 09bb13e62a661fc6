// zerowasm serve: playground (streaming chat, embedding similarity) and a live dashboard.
// Plain browser JavaScript, no build step, no external resources. Every URL is relative
// so the page also works under a route prefix (e.g. behind Ray Serve or a reverse proxy).
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // samples kept per chart (two minutes at one poll a second)

const $ = (id) => document.getElementById(id);

// ---------- helpers ----------

function fmt(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(digits) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(digits) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

function fmtSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms";
  return s.toFixed(2) + " s";
}

function fmtUptime(s) {
  if (!Number.isFinite(s)) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}

// An OpenAI-style error body ({"error": {"message": ...}}) or the status line.
async function errorText(resp) {
  let body = "";
  try { body = await resp.text(); } catch (_) { /* connection gone */ }
  try {
    const j = JSON.parse(body);
    if (j && j.error) return `${resp.status}: ${j.error.message || JSON.stringify(j.error)}`;
    if (j && j.detail) return `${resp.status}: ${typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail)}`;
  } catch (_) { /* not JSON */ }
  return `${resp.status} ${resp.statusText}${body ? ": " + body.slice(0, 300) : ""}`;
}

// Server-Sent Events from a fetch() body: yields the `data:` payload of each event.
async function* sseData(resp, signal) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      if (signal && signal.aborted) return;
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) yield data;
      }
    }
    const rest = buf.trim();
    if (rest.startsWith("data:")) yield rest.slice(5).trim();
  } finally {
    reader.releaseLock();
  }
}

// ---------- models ----------

let models = []; // entries of /v1/models

function modelKind(m) {
  // /v1/models names the guest kind: "minilm" (embeddings) or "smollm" (chat).
  return /minilm|embed|bert/i.test(m.kind || m.id) ? "embedding" : "chat";
}

function fillSelect(select, kind) {
  const prev = select.value;
  select.innerHTML = "";
  for (const m of models.filter((x) => modelKind(x) === kind)) {
    const opt = document.createElement("option");
    opt.value = opt.textContent = m.id;
    select.appendChild(opt);
  }
  if (prev && [...select.options].some((o) => o.value === prev)) select.value = prev;
}

async function loadModels() {
  try {
    const resp = await fetch("v1/models");
    if (!resp.ok) throw new Error(await errorText(resp));
    models = (await resp.json()).data || [];
    fillSelect($("chat-model"), "chat");
    fillSelect($("embed-model"), "embedding");
  } catch (e) {
    $("chat-meta").textContent = `could not list models: ${e.message}`;
  }
}

// ---------- chat ----------

const chat = { messages: [], session: null, abort: null };

function newSessionId() {
  const a = new Uint8Array(8);
  crypto.getRandomValues(a);
  return "web-" + [...a].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.append(who, body);
  $("chat-log").appendChild(div);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return div;
}

function resetChat() {
  if (chat.abort) chat.abort.abort();
  chat.messages = [];
  chat.session = null;
  $("chat-log").innerHTML = "";
  $("chat-meta").textContent = "";
}

// Prompt tokens found in the session's KV cache (OpenAI's usage.prompt_tokens_details).
function cachedTokens(usage) {
  return usage && usage.prompt_tokens_details ? usage.prompt_tokens_details.cached_tokens || 0 : 0;
}

async function sendChat(ev) {
  ev.preventDefault();
  const text = $("chat-input").value.trim();
  const model = $("chat-model").value;
  if (!text || chat.abort) return;
  if (!model) { $("chat-meta").textContent = "no chat model is served"; return; }
  $("chat-input").value = "";
  addMessage("user", text);
  chat.messages.push({ role: "user", content: text });

  const out = addMessage("assistant", "");
  const outText = out.querySelector(".text");
  out.dataset.state = "streaming";
  out.dataset.chunks = "0";
  const headers = { "Content-Type": "application/json" };
  if ($("chat-session").checked) {
    chat.session = chat.session || newSessionId();
    headers["X-Session-Id"] = chat.session;
  }
  const body = {
    model, messages: chat.messages, stream: true,
    max_tokens: Number($("chat-max-tokens").value) || 64,
    temperature: Number($("chat-temperature").value) || 0,
    stream_options: { include_usage: true },
  };
  chat.abort = new AbortController();
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  const t0 = performance.now();
  let tFirst = null, chunks = 0, usage = null, finish = null, answer = "";
  try {
    const resp = await fetch("v1/chat/completions", {
      method: "POST", headers, body: JSON.stringify(body), signal: chat.abort.signal,
    });
    if (!resp.ok) throw new Error(await errorText(resp));
    const served = resp.headers.get("X-Model-Version");
    const replica = resp.headers.get("X-Zerowasm-Replica");
    for await (const data of sseData(resp, chat.abort.signal)) {
      if (data === "[DONE]") break;
      const msg = JSON.parse(data);
      if (msg.error) throw new Error(msg.error.message || JSON.stringify(msg.error));
      if (msg.usage) usage = msg.usage;
      for (const choice of msg.choices || []) {
        const piece = (choice.delta && choice.delta.content) || "";
        if (piece) {
          if (tFirst === null) tFirst = performance.now();
          answer += piece;
          outText.textContent = answer;
          out.dataset.chunks = String(++chunks);
          $("chat-log").scrollTop = $("chat-log").scrollHeight;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    chat.messages.push({ role: "assistant", content: answer });
    out.dataset.state = "done";
    const secs = (performance.now() - t0) / 1000;
    const tokens = usage ? usage.completion_tokens : chunks;
    const parts = [
      `${tokens} tokens in ${secs.toFixed(2)} s`,
      tFirst !== null ? `first token ${((tFirst - t0)).toFixed(0)} ms` : null,
      tFirst !== null && tokens > 1 ? `${((tokens - 1) / ((performance.now() - tFirst) / 1000)).toFixed(1)} tok/s` : null,
      usage && usage.prompt_tokens !== undefined ? `prompt ${usage.prompt_tokens}` : null,
      usage && usage.prefill_tokens !== undefined ? `prefilled ${usage.prefill_tokens}` : null,
      cachedTokens(usage) ? `cached ${cachedTokens(usage)}` : null,
      finish ? `finish: ${finish}` : null,
      served ? `version ${served.slice(0, 12)}` : null,
      replica ? `replica ${replica}` : null,
    ];
    $("chat-meta").textContent = parts.filter(Boolean).join(" · ");
  } catch (e) {
    if (e.name === "AbortError") {
      out.dataset.state = "done";
      chat.messages.push({ role: "assistant", content: answer });
      $("chat-meta").textContent = "stopped";
    } else {
      out.dataset.state = "error";
      out.classList.add("error");
      outText.textContent = answer + (answer ? "\n" : "") + e.message;
      chat.messages.pop(); // the turn failed: don't send it again
    }
  } finally {
    chat.abort = null;
    $("chat-send").disabled = false;
    $("chat-stop").disabled = true;
  }
}

// ---------- embeddings ----------

function cosineMatrix(vectors) {
  const norms = vectors.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  return vectors.map((a, i) => vectors.map((b, j) => {
    let dot = 0;
    for (let k = 0; k < a.length; k++) dot += a[k] * b[k];
    return dot / (norms[i] * norms[j]);
  }));
}

// -1 .. 1 -> a colour from cold to warm (legible dark text on top).
function heat(x) {
  const t = Math.max(0, Math.min(1, (x + 0.2) / 1.2));
  const hue = 220 - 190 * t;
  return `hsl(${hue}, 70%, ${78 - 18 * t}%)`;
}

async function runEmbeddings() {
  const sentences = $("embed-input").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const model = $("embed-model").value;
  const outDiv = $("embed-out");
  if (!model) { $("embed-meta").textContent = "no embedding model is served"; return; }
  if (sentences.length === 0) { $("embed-meta").textContent = "enter one sentence per line"; return; }
  $("embed-run").disabled = true;
  outDiv.dataset.state = "running";
  const t0 = performance.now();
  try {
    const resp = await fetch("v1/embeddings", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, input: sentences }),
    });
    if (!resp.ok) throw new Error(await errorText(resp));
    const res = await resp.json();
    const vectors = res.data.slice().sort((a, b) => a.index - b.index).map((d) => d.embedding);
    const sims = cosineMatrix(vectors);
    const table = document.createElement("table");
    table.className = "sim";
    const head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    sentences.forEach((_, j) => { const th = document.createElement("th"); th.textContent = `#${j + 1}`; head.appendChild(th); });
    const tbody = table.createTBody();
    sentences.forEach((s, i) => {
      const row = tbody.insertRow();
      const th = document.createElement("th");
      th.className = "sentence";
      th.textContent = `#${i + 1} ${s}`;
      row.appendChild(th);
      sims[i].forEach((x) => {
        const td = row.insertCell();
        td.textContent = x.toFixed(3);
        td.dataset.value = String(x);
        td.style.background = heat(x);
      });
    });
    outDiv.replaceChildren(table);
    outDiv.dataset.state = "done";
    const ms = (performance.now() - t0).toFixed(0);
    const tokens = res.usage ? `, ${res.usage.prompt_tokens} tokens` : "";
    $("embed-meta").textContent = `${vectors.length} × ${vectors[0].length} in ${ms} ms${tokens}`;
  } catch (e) {
    outDiv.dataset.state = "error";
    outDiv.replaceChildren();
    $("embed-meta").textContent = e.message;
  } finally {
    $("embed-run").disabled = false;
  }
}

// ---------- dashboard ----------

// The only place that knows the shape of GET /v1/stats
// ({"backend", "uptime_s", "models": {name: {requests, errors, latency_p50_s, latency_p99_s,
// tokens_per_s, queue_depth, busy_instances, instances, replacements, active_version, ops, copies,
// sessions}}}; documented in zerowasm/serve/__init__.py);
// everything below uses the form returned here.
function normalizeStats(stats) {
  return Object.entries(stats.models || {}).map(([name, m]) => ({
    name,
    kind: m.kind || "",
    version: m.active_version || "",
    versions: (m.versions || []).length,
    requests: m.requests ?? null,
    errors: m.errors ?? null,
    queue: m.queue_depth ?? null,
    busy: m.busy_instances ?? null,
    instances: m.instances ?? null,
    replaced: m.replacements ?? null,
    tps: m.tokens_per_s ?? null,
    p50: m.latency_p50_s ?? null,
    p99: m.latency_p99_s ?? null,
    copies: m.copies ?? null,
    sessions: m.sessions || null,
    ops: Object.entries(m.ops || {}).map(([op, v]) => ({ name: op, calls: v.calls || 0, seconds: v.seconds || 0 })),
  }));
}

const dash = { cards: new Map(), history: new Map(), polls: 0 };

function cardFor(name) {
  let card = dash.cards.get(name);
  if (!card) {
    card = $("model-card").content.firstElementChild.cloneNode(true);
    card.dataset.model = name;
    card.querySelector(".name").textContent = name;
    $("dash-models").appendChild(card);
    dash.cards.set(name, card);
    dash.history.set(name, []);
  }
  return card;
}

function drawChart(canvas, series, colors, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const all = series.flat().filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...all) * 1.15;
  const pad = 4 * dpr;
  series.forEach((values, si) => {
    ctx.strokeStyle = colors[si];
    ctx.lineWidth = 1.5 * dpr;
    ctx.beginPath();
    let started = false, last = null;
    values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { started = false; return; }
      // newest sample at the right edge; the chart scrolls left as samples arrive
      const x = w - pad - (w - 2 * pad) * ((values.length - 1 - i) / (HISTORY - 1));
      const y = h - pad - (h - 2 * pad) * (v / max);
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      if (i === values.length - 1) last = [x, y];
    });
    ctx.stroke();
    if (last) { // mark the newest sample: a single sample is otherwise invisible
      ctx.fillStyle = colors[si];
      ctx.beginPath();
      ctx.arc(last[0], last[1], 2.5 * dpr, 0, 2 * Math.PI);
      ctx.fill();
    }
  });
  ctx.fillStyle = "#7d8a97";
  ctx.font = `${10 * dpr}px sans-serif`;
  const now = series[0].length ? series[0][series[0].length - 1] : null;
  ctx.fillText(`max ${fmt(max / 1.15)}${unit}` + (now !== null && now !== undefined ? `  now ${fmt(now)}${unit}` : ""),
    pad, pad + 9 * dpr);
}

function setField(card, field, text, raw) {
  const el = card.querySelector(`[data-field=${field}]`);
  el.textContent = text;
  el.dataset.raw = raw === null || raw === undefined ? "" : String(raw);
  el.dataset.nonzero = String(Boolean(raw));
}

function renderModel(m, now) {
  const card = cardFor(m.name);
  card.querySelector(".kind").textContent = m.kind;
  card.querySelector(".version").textContent = m.version ? `v ${String(m.version).slice(0, 12)}` : "";
  const hist = dash.history.get(m.name);
  hist.push({ t: now, tps: m.tps, p50: m.p50, p99: m.p99, queue: m.queue });
  if (hist.length > HISTORY) hist.shift();

  setField(card, "requests", fmt(m.requests, 1), m.requests);
  setField(card, "errors", fmt(m.errors, 1), m.errors);
  setField(card, "queue", fmt(m.queue, 0), m.queue);
  setField(card, "tps", fmt(m.tps, 1), m.tps);
  setField(card, "busy", m.instances === null ? "–" : `${m.busy}/${m.instances}`, m.busy);
  setField(card, "replaced", fmt(m.replaced, 0), m.replaced);
  const ses = m.sessions;
  setField(card, "sessions", ses ? `${fmt(ses.resident ?? 0, 0)}+${fmt(ses.evicted ?? 0, 0)}` : "–",
    ses ? (ses.resident ?? 0) + (ses.evicted ?? 0) : null);
  card.querySelector("[data-field=sessions]").parentElement.hidden = !ses;
  setField(card, "p50", fmtSeconds(m.p50), m.p50);
  setField(card, "p99", fmtSeconds(m.p99), m.p99);
  setField(card, "copies", fmt(m.copies, 0), m.copies);
  const copiesEl = card.querySelector("[data-field=copies]");
  copiesEl.dataset.ok = m.copies === null ? "" : String(m.copies === 0);
  copiesEl.title = "staging copies between guest memory and a device: zero-copy means this stays 0";

  const ms = (v) => (v === null || v === undefined ? null : v * 1e3);
  drawChart(card.querySelector("[data-chart=tps]"), [hist.map((p) => p.tps ?? null)], ["#4fb3ff"], "");
  drawChart(card.querySelector("[data-chart=latency]"),
    [hist.map((p) => ms(p.p50)), hist.map((p) => ms(p.p99))], ["#3ecf8e", "#f0a04b"], " ms");
  drawChart(card.querySelector("[data-chart=queue]"), [hist.map((p) => p.queue)], ["#c792ea"], "");

  const tbody = card.querySelector(".ops tbody");
  const total = m.ops.reduce((s, o) => s + o.seconds, 0) || 1;
  const rows = m.ops.slice().sort((a, b) => b.seconds - a.seconds);
  tbody.replaceChildren(...rows.map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.op = o.name;
    const share = o.seconds / total;
    tr.innerHTML = `<td></td><td class="num"></td><td class="num"></td>` +
      `<td><div class="bar" style="width:${(share * 100).toFixed(1)}%"></div></td>`;
    tr.children[0].textContent = o.name;
    tr.children[1].textContent = fmt(o.calls, 1);
    tr.children[2].textContent = fmtSeconds(o.seconds);
    tr.title = `${(share * 100).toFixed(1)}% of op time`;
    return tr;
  }));
}

async function poll() {
  try {
    const resp = await fetch("v1/stats", { cache: "no-store" });
    if (!resp.ok) throw new Error(await errorText(resp));
    const stats = await resp.json();
    const now = performance.now();
    for (const m of normalizeStats(stats)) renderModel(m, now);
    dash.polls += 1;
    document.body.dataset.polls = String(dash.polls);
    $("dash-error").hidden = true;
    $("dash-backend").textContent = stats.backend ? `backend ${stats.backend}` : "";
    $("dash-updated").textContent = `· up ${fmtUptime(stats.uptime_s)} · updated ${new Date().toLocaleTimeString()}`;
    $("health").textContent = "serving";
    $("health").dataset.state = "ok";
  } catch (e) {
    $("dash-error").hidden = false;
    $("dash-error").textContent = `stats unavailable: ${e.message}`;
    $("health").textContent = "unreachable";
    $("health").dataset.state = "down";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// ---------- start ----------

$("chat-form").addEventListener("submit", sendChat);
$("chat-stop").addEventListener("click", () => chat.abort && chat.abort.abort());
$("chat-reset").addEventListener("click", resetChat);
$("chat-session").addEventListener("change", () => { chat.session = null; });
$("embed-run").addEventListener("click", runEmbeddings);
loadModels().then(() => { document.body.dataset.ready = "true"; });
poll();
