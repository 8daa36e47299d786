// Operator console: preview player, live feed (SSE), viewer box, admin, knowledge base, schedule, health.
// Plain DOM code; every server text goes through textContent (never innerHTML), so chat cannot inject markup.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { admin: false, adminEnabled: false, filters: new Set(["chat", "utterance", "admin", "notice"]) };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(path, { method = "GET", body } = {}) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (_) { /* empty or non-JSON body */ }
  if (resp.status === 401 && state.admin) { state.admin = false; renderSession(); }
  return { ok: resp.ok, status: resp.status, data: data || {} };
}

function say(target, text, ok) {
  const node = $(target);
  node.textContent = text;
  node.className = "muted small " + (ok ? "result-ok" : "result-bad");
}

function fmtTime(epoch) {
  if (!epoch) return "—";
  return new Date(epoch * 1000).toLocaleTimeString("zh-CN", { hour12: false });
}
function fmtBytes(n) {
  if (!n) return "0";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}
function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
}

// ---- session / login --------------------------------------------------------------------------------

function renderSession() {
  $("#admin-state").textContent = state.admin ? "管理员 · admin" : "观众 · viewer";
  $("#admin-state").className = "badge" + (state.admin ? " ok" : "");
  $("#login-form").hidden = state.admin || !state.adminEnabled;
  $("#logout").hidden = !state.admin;
  $("#admin-hint").textContent = state.admin ? "" :
    (state.adminEnabled ? "登录后可用 · log in to use" : "管理功能未开启 · admin disabled (set " + state.tokenEnv + ")");
  for (const b of document.querySelectorAll("[data-admin]")) b.disabled = !state.admin;
}

async function loadSession() {
  const { data } = await api("/api/session");
  state.admin = !!data.admin; state.adminEnabled = !!data.admin_enabled; state.tokenEnv = data.token_env;
  state.preview = data.preview; state.viewerTokenRequired = !!data.viewer_token_required;
  if (data.max_message_chars) $("#chat-text").maxLength = data.max_message_chars;
  $("#mic-row").hidden = !(data.asr && window.MediaRecorder && navigator.mediaDevices);
  renderSession();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("/api/login", { method: "POST", body: { token: $("#login-token").value } });
  $("#login-token").value = "";
  if (r.ok) {
    state.admin = true; renderSession(); say("#admin-result", "已登录 · logged in", true);
    startAll();
    loadProducts(); loadFaqs(); loadSchedule();  // re-render rows with admin buttons enabled
  }
  else say("#admin-result", r.data.error || "登录失败 login failed", false);
});
$("#logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: {} });
  state.admin = false; renderSession();
});

// ---- preview player ---------------------------------------------------------------------------------

const video = $("#preview");
let player = null, retryTimer = null;
const stall = { time: -1, since: 0, playing: false };  // last media time seen, when it last moved

function startPreview() {
  clearTimeout(retryTimer);
  if (state.preview === false) { $("#preview-state").textContent = "预览未开启 · preview off (stream.preview.enabled)"; return; }
  if (player) { try { player.destroy(); } catch (_) { /* already gone */ } player = null; }
  if (!window.mpegts || !mpegts.getFeatureList().mseLivePlayback) {
    $("#preview-state").textContent = "浏览器不支持 MSE · no MSE playback"; return;
  }
  $("#preview-state").textContent = "连接中 · connecting";
  player = mpegts.createPlayer({ type: "flv", isLive: true, url: "/preview.flv", hasAudio: true, hasVideo: true }, {
    enableWorker: false, enableStashBuffer: false, lazyLoad: false,
    liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.8, liveBufferLatencyMinRemain: 0.4,
    // A console left open for weeks: drop played media, or the SourceBuffer fills up and playback dies.
    autoCleanupSourceBuffer: true, autoCleanupMaxBackwardDuration: 30, autoCleanupMinBackwardDuration: 15,
  });
  stall.time = -1; stall.since = performance.now(); stall.playing = false;
  player.attachMediaElement(video);
  player.on(mpegts.Events.ERROR, (type, detail) => {
    $("#preview-state").textContent = "中断，重连中 · " + type + "/" + detail;
    retryTimer = setTimeout(startPreview, 2000);
  });
  player.on(mpegts.Events.LOADING_COMPLETE, () => { retryTimer = setTimeout(startPreview, 1000); });
  player.load();
  const p = player.play();
  if (p && p.catch) p.catch(() => {
    // Autoplay with sound was refused: play muted and offer a one-click unmute.
    video.muted = true; $("#unmute").hidden = false; video.play().catch(() => {});
  });
}
$("#unmute").addEventListener("click", () => { video.muted = false; video.play(); $("#unmute").hidden = true; });
video.addEventListener("playing", () => {
  stall.playing = true; $("#preview-state").textContent = video.muted ? "播放中（静音）· playing, muted" : "播放中 · playing"; });
video.addEventListener("volumechange", () => { if (!video.muted) $("#unmute").hidden = true; });

function updateReadout() {
  $("#media-time").textContent = video.currentTime.toFixed(2) + " s";
  const b = video.buffered;
  $("#buffer-ahead").textContent = b.length ? (b.end(b.length - 1) - video.currentTime).toFixed(2) + " s" : "—";
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
  if (q) { $("#decoded-frames").textContent = q.totalVideoFrames; $("#dropped-frames").textContent = q.droppedVideoFrames; }
  // Watchdog: media time frozen for 6 s while meant to play (host restarted, feed wedged) -> reconnect.
  const now = performance.now();
  if (video.currentTime !== stall.time) { stall.time = video.currentTime; stall.since = now; }
  else if (player && stall.playing && !video.paused && now - stall.since > 6000) {
    $("#preview-state").textContent = "画面停滞，重连中 · stalled, reconnecting";
    startPreview();
  }
}
setInterval(updateReadout, 250);

// ---- health -----------------------------------------------------------------------------------------

async function loadHealth() {
  const { ok, data } = await api("/api/health");
  const dot = $("#onair-dot"), label = $("#onair-label"), clock = $("#clock-state");
  if (!ok) { dot.className = "dot"; label.textContent = "无数据 · no data"; clock.textContent = "—"; return; }
  const status = data.clock.status;
  dot.className = "dot " + (status === "ok" ? "live" : status === "stalled" ? "stalled" : "");
  label.textContent = status === "ok" ? (data.paused ? "直播中（暂停回复）· ON AIR, paused" : "直播中 · ON AIR")
    : status === "stalled" ? "画面停滞 · STALLED" : "未开播 · off air";
  clock.textContent = status === "ok" ? "时钟正常 clock ok" : status === "stalled" ? "时钟停滞 stalled" : "off air";
  clock.className = "badge " + (status === "ok" ? "ok" : "bad");
  const figures = [
    ["运行 Uptime", fmtDuration(data.uptime_s)], ["帧 Frames", data.frames.toLocaleString()],
    ["迟到帧 Late", data.late_frames.toLocaleString()], ["保持帧 Held", data.held_frames.toLocaleString()],
    ["媒体时间 Media", data.media_time_s.toFixed(1) + " s"], ["当前商品 Product", data.current_product || "—"],
  ];
  const select = $("#product-select");
  if (data.current_product && document.activeElement !== select && select.value !== data.current_product
      && [...select.options].some((o) => o.value === data.current_product)) select.value = data.current_product;
  $("#figures").replaceChildren(...figures.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, String(v)))));
  $("#sinks").replaceChildren(...data.sinks.map((s) => el("tr", { title: s.last_error || "" },
    el("td", {}, s.name, el("span", { class: "muted small" }, " " + s.kind)),
    el("td", {}, el("span", { class: "badge " + s.state }, s.state)),
    el("td", { class: "num" }, String(s.reconnects)), el("td", { class: "num" }, String(s.queue_depth)),
    el("td", { class: "num" }, fmtBytes(s.bytes_out)))));
  const chips = Object.entries(data.queues).map(([k, v]) => el("span", { class: "chip" }, k + ": " + v));
  if (data.speaking) chips.unshift(el("span", { class: "chip speaking" }, "说话中 speaking: " + data.speaking));
  $("#queues").replaceChildren(...chips);
}
setInterval(() => { if (state.started) loadHealth(); }, 2000);

// ---- live feed ----------------------------------------------------------------------------------------

const MAX_EVENTS = 300;
const KIND_LABELS = { super_chat: "醒目留言 SC", gift: "礼物 gift", guard: "上舰 guard", enter: "进场 enter",
  follow: "关注 follow", share: "分享 share", like: "点赞 like" };
function renderEvent(ev) {
  const p = ev.payload;
  let badge, who = "", text = "", extra = "", cls = "ev-" + ev.kind;
  if (ev.kind === "chat") {
    const label = KIND_LABELS[p.kind] || p.kind;
    badge = el("span", { class: "badge " + (p.allowed ? "allowed" : "blocked") },
      p.allowed ? (p.kind === "comment" ? "通过 ok" : label) : "拦截 " + p.reason);
    who = p.uname + (p.kind !== "comment" && !p.allowed ? " · " + label : "");
    text = p.text; if (p.amount) extra = " ¥" + p.amount;
    if (!p.allowed) cls += " ev-blocked";
  } else if (ev.kind === "utterance") {
    badge = el("span", { class: "badge " + p.state }, p.state);
    who = "主播" + (p.to_uname ? " → " + p.to_uname : "") + (p.priority ? " · " + p.priority : "");
    text = p.state === "interrupted" && p.played_text != null ? p.played_text + " …" : p.text;
  } else if (ev.kind === "admin") {
    badge = el("span", { class: "badge " + (p.ok ? "admin" : "bad") }, "管理 " + p.action);
    who = p.actor; text = (Object.keys(p.args).length ? JSON.stringify(p.args) + " → " : "") + p.message;
  } else {
    badge = el("span", { class: "badge " + p.level }, p.level); text = p.message;
  }
  return el("li", { class: cls, dataset: { kind: ev.kind, seq: ev.seq } },
    el("span", { class: "time" }, fmtTime(ev.at)), badge,
    el("span", {}, who ? el("span", { class: "who" }, who) : null, el("span", { class: "text" }, text),
      extra ? el("span", { class: "reason" }, extra) : null));
}

function addEvent(ev) {
  const list = $("#events");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const node = renderEvent(ev);
  node.hidden = !state.filters.has(ev.kind);
  // An utterance's later states (speaking, done, interrupted) replace its line instead of adding one.
  const prior = ev.kind === "utterance" ? list.querySelector(`li[data-utt="${CSS.escape(ev.payload.id)}"]`) : null;
  if (ev.kind === "utterance") node.dataset.utt = ev.payload.id;
  if (prior) prior.replaceWith(node); else list.append(node);
  while (list.children.length > MAX_EVENTS) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function startFeed() {
  const source = new EventSource("/api/events");  // reconnects by itself with Last-Event-ID
  for (const kind of ["chat", "utterance", "admin", "notice"]) {
    source.addEventListener(kind, (m) => addEvent(JSON.parse(m.data)));
  }
  source.addEventListener("gap", (m) => {
    const missed = JSON.parse(m.data).missed;
    addEvent({ seq: 0, at: Date.now() / 1000, kind: "notice",
      payload: { level: "warning", message: "断线期间错过 " + missed + " 条 · missed " + missed + " events while disconnected" } });
  });
  source.onopen = () => { $("#feed-state").textContent = "feed: 已连接 connected"; };
  source.onerror = () => { $("#feed-state").textContent = "feed: 重连中 reconnecting"; };
}

$("#filters").addEventListener("change", (ev) => {
  const kind = ev.target.value;
  if (ev.target.checked) state.filters.add(kind); else state.filters.delete(kind);
  for (const li of $("#events").children) li.hidden = !state.filters.has(li.dataset.kind);
});

$("#chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("#chat-text").value.trim();
  if (!text) return;
  const r = await api("/api/chat", { method: "POST", body: { uname: $("#chat-uname").value, text } });
  if (r.status === 200 || r.status === 422) {
    say("#chat-result", r.data.accepted ? "已发送 · sent" : "被拦截 · blocked: " + r.data.reason, r.data.accepted);
    $("#chat-text").value = "";
  } else say("#chat-result", r.data.error || "发送失败 · failed (" + r.status + ")", false);
});

// ---- admin --------------------------------------------------------------------------------------------

async function adminCall(action, args = {}) {
  const r = await api("/api/admin/" + action, { method: "POST", body: { args } });
  const msg = r.data.message || r.data.error || ("HTTP " + r.status);
  say("#admin-result", action + ": " + msg, r.ok);
  const data = r.data.data && Object.keys(r.data.data).length ? r.data.data : null;  // e.g. /status figures
  $("#admin-data").hidden = !data;
  $("#admin-data").textContent = data ? JSON.stringify(data, null, 2) : "";
  return r;
}
for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => adminCall(b.dataset.action));
$("#say-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await adminCall("say", { text: $("#say-text").value });
  if (r.ok) $("#say-text").value = "";
});
$("#product-form").addEventListener("submit", (ev) => { ev.preventDefault(); adminCall("product", { product_id: $("#product-select").value }); });
$("#mute-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const uid = Number($("#mute-uid").value.trim());
  if (!Number.isInteger(uid) || uid <= 0) { say("#admin-result", "UID 必须是数字 · UID must be a number", false); return; }
  const args = { uid };
  if ($("#mute-minutes").value) args.minutes = Number($("#mute-minutes").value);
  adminCall("mute", args);
});
$("#unmute-user").addEventListener("click", () => {
  const uid = Number($("#mute-uid").value.trim());
  if (Number.isInteger(uid) && uid > 0) adminCall("unmute", { uid });
});
$("#ban-form").addEventListener("submit", (ev) => { ev.preventDefault(); adminCall("ban", { word: $("#ban-word").value.trim() }); });
$("#unban-word").addEventListener("click", () => { if ($("#ban-word").value.trim()) adminCall("unban", { word: $("#ban-word").value.trim() }); });

// Microphone: record while the button is held, then post the clip to the host's ASR (/api/asr).
let recorder = null;
async function micStart() {
  if (recorder || !state.admin) return;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      $("#mic-result").textContent = "识别中 · recognizing…";
      const resp = await fetch("/api/asr", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": blob.type.split(";")[0] }, body: blob });
      const data = await resp.json().catch(() => ({}));
      $("#mic-result").textContent = resp.ok ? "识别 · heard: " + (data.text || "—") : (data.error || "HTTP " + resp.status);
    };
    recorder.start();
    $("#mic").classList.add("primary");
    $("#mic-result").textContent = "录音中 · recording…";
  } catch (err) { $("#mic-result").textContent = "麦克风不可用 · microphone unavailable: " + err.name; }
}
function micStop() { if (recorder && recorder.state === "recording") recorder.stop(); $("#mic").classList.remove("primary"); }
$("#mic").addEventListener("pointerdown", micStart);
for (const ev of ["pointerup", "pointerleave"]) $("#mic").addEventListener(ev, micStop);

// ---- knowledge base -----------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
  $("#tab-products").hidden = tab.dataset.tab !== "products";
  $("#tab-faqs").hidden = tab.dataset.tab !== "faqs";
});

const lines = (s) => s.split(/\n|,|，/).map((x) => x.trim()).filter(Boolean);
const num = (s) => (s === "" ? null : Number(s));
let products = [];

// A table that could not load says why (e.g. 501 "no scheduler: set scripts.dir") instead of looking empty.
function tableError(tbody, r, columns) {
  tbody.replaceChildren(el("tr", {}, el("td", { colspan: String(columns), class: "muted small" },
    "无法加载 · unavailable: " + (r.data.error || "HTTP " + r.status))));
}

async function loadProducts() {
  const r = await api("/api/kb/products");
  if (!r.ok) return tableError($("#products"), r, 5);
  products = r.data;
  $("#products").replaceChildren(...products.map((p) => el("tr", {},
    el("td", { class: "muted small" }, p.id), el("td", {}, p.name),
    el("td", { class: "num" }, p.price == null ? "—" : String(p.price)),
    el("td", { class: "num" }, p.stock == null ? "—" : String(p.stock)),
    el("td", {}, el("button", { type: "button", class: "ghost", onclick: () => editProduct(p) }, "编辑"),
      el("button", { type: "button", class: "ghost", "data-admin": "", onclick: () => deleteRecord("products", p.id) }, "删除")))));
  const select = $("#product-select"), current = select.value;
  select.replaceChildren(...products.map((p) => el("option", { value: p.id }, p.name + " (" + p.id + ")")));
  if (current) select.value = current;
  renderSession();
}

function editProduct(p) {
  const f = $("#product-edit");
  f.id.value = p.id; f.name.value = p.name; f.price.value = p.price ?? ""; f.list_price.value = p.list_price ?? "";
  f.stock.value = p.stock ?? ""; f.aliases.value = p.aliases.join(", ");
  f.selling_points.value = p.selling_points.join("\n"); f.promotions.value = p.promotions.join("\n");
  f.dataset.specs = JSON.stringify(p.specs); f.dataset.tags = JSON.stringify(p.tags);
}

$("#product-edit").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = {
    name: f.name.value.trim(), price: num(f.price.value), list_price: num(f.list_price.value), stock: num(f.stock.value),
    aliases: lines(f.aliases.value), selling_points: lines(f.selling_points.value), promotions: lines(f.promotions.value),
    specs: JSON.parse(f.dataset.specs || "{}"), tags: JSON.parse(f.dataset.tags || "[]"),
  };
  const r = await api("/api/kb/products/" + encodeURIComponent(f.id.value.trim()), { method: "PUT", body });
  say("#kb-result", r.ok ? "已保存 · saved " + r.data.id : (r.data.error || "HTTP " + r.status), r.ok);
  if (r.ok) loadProducts();
});
$("#product-edit").addEventListener("reset", (ev) => { delete ev.target.dataset.specs; delete ev.target.dataset.tags; });

async function loadFaqs() {
  const r = await api("/api/kb/faqs");
  if (!r.ok) return tableError($("#faqs"), r, 4);
  $("#faqs").replaceChildren(...r.data.map((q) => el("tr", {},
    el("td", { class: "muted small" }, q.id), el("td", {}, q.question), el("td", {}, q.answer),
    el("td", {}, el("button", { type: "button", class: "ghost", onclick: () => editFaq(q) }, "编辑"),
      el("button", { type: "button", class: "ghost", "data-admin": "", onclick: () => deleteRecord("faqs", q.id) }, "删除")))));
  renderSession();
}
function editFaq(q) {
  const f = $("#faq-edit");
  f.id.value = q.id; f.product_id.value = q.product_id || ""; f.question.value = q.question; f.answer.value = q.answer;
}
$("#faq-edit").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { question: f.question.value.trim(), answer: f.answer.value.trim(), product_id: f.product_id.value.trim() || null };
  const r = await api("/api/kb/faqs/" + encodeURIComponent(f.id.value.trim()), { method: "PUT", body });
  say("#kb-result", r.ok ? "已保存 · saved " + r.data.id : (r.data.error || "HTTP " + r.status), r.ok);
  if (r.ok) loadFaqs();
});

async function deleteRecord(kind, id) {
  if (!confirm("删除 delete " + id + "?")) return;
  const r = await api("/api/kb/" + kind + "/" + encodeURIComponent(id), { method: "DELETE" });
  say("#kb-result", r.ok ? "已删除 · deleted " + id : (r.data.error || "HTTP " + r.status), r.ok);
  if (r.ok) (kind === "products" ? loadProducts : loadFaqs)();
}

// ---- schedule -----------------------------------------------------------------------------------------

async function loadSchedule() {
  const r = await api("/api/schedule");
  if (!r.ok) return tableError($("#schedule"), r, 5);
  $("#schedule").replaceChildren(...r.data.map((j) => el("tr", {},
    el("td", {}, j.name, j.paused ? el("span", { class: "badge paused" }, " 暂停 paused") : null),
    el("td", { class: "muted small" }, j.trigger), el("td", {}, fmtTime(j.next_run)), el("td", {}, fmtTime(j.last_run)),
    el("td", {},
      el("button", { type: "button", class: "ghost", "data-admin": "", onclick: () => scheduleAction(j.id, j.paused ? "resume" : "pause") },
        j.paused ? "继续" : "暂停"),
      el("button", { type: "button", class: "ghost", "data-admin": "", onclick: () => scheduleAction(j.id, "run_now") }, "立即")))));
  renderSession();
}
async function scheduleAction(id, action) {
  const r = await api("/api/schedule/" + encodeURIComponent(id) + "/" + action, { method: "POST", body: {} });
  say("#admin-result", "schedule " + action + ": " + (r.ok ? "ok" : (r.data.error || "HTTP " + r.status)), r.ok);
  loadSchedule();
}
$("#schedule-refresh").addEventListener("click", loadSchedule);
setInterval(() => { if (state.started) loadSchedule(); }, 15000);

// ---- start ---------------------------------------------------------------------------------------------

// Off loopback nothing is visible before login; on loopback everything starts at once.
function startAll() {
  if (state.started) return;
  state.started = true;
  $("#login-needed").hidden = true;
  loadProducts(); loadFaqs(); loadSchedule(); loadHealth(); startFeed(); startPreview();
}
loadSession().then(() => {
  if (state.viewerTokenRequired && !state.admin) $("#login-needed").hidden = false;
  else startAll();
});
