// libinfer's chat page: log in through /token when the server has users, pick a model, chat
// with streamed answers (OpenAI's /v1/chat/completions), stop a generation, see tokens/s.
// Model output is never parsed as HTML: the Markdown subset below builds DOM nodes and sets
// their text (textContent), and the server's Content-Security-Policy allows no inline script.
"use strict";

const TOKEN_KEY = "libinfer.token";
const CHAT_KEY = "libinfer.chat";
const MODEL_KEY = "libinfer.model";

const $ = (id) => document.getElementById(id);
let messages = [];          // the conversation: {role, content, note?}
let controller = null;      // the running generation's AbortController

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function showError(text) {
  const e = $("error");
  e.textContent = text || "";
  e.hidden = !text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return response.status + " " + response.statusText;
}

// ---- Markdown, as DOM nodes ---------------------------------------------------------------

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*)|(\[[^\]\n]+\]\((https?:\/\/[^)\s]+)\))/;

// Appends `text` with inline code, bold, italic and http(s) links to `parent`.
function appendInline(parent, text) {
  while (text) {
    const m = INLINE.exec(text);
    if (!m) { parent.appendChild(document.createTextNode(text)); return; }
    if (m.index > 0) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
    let node;
    if (m[1]) {
      node = document.createElement("code");
      node.textContent = m[1].slice(1, -1);
    } else if (m[2]) {
      node = document.createElement("strong");
      node.textContent = m[2].slice(2, -2);
    } else if (m[3]) {
      node = document.createElement("em");
      node.textContent = m[3].slice(1, -1);
    } else {
      node = document.createElement("a");
      node.textContent = m[4].slice(1, m[4].indexOf("]"));
      node.href = m[5];
      node.rel = "noopener noreferrer";
      node.target = "_blank";
    }
    parent.appendChild(node);
    text = text.slice(m.index + m[0].length);
  }
}

// Fenced code blocks, headings, lists and paragraphs; everything else is text.
function renderMarkdown(container, source) {
  container.replaceChildren();
  const lines = source.split("\n");
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) {
      const p = document.createElement("p");
      appendInline(p, paragraph.join("\n"));
      container.appendChild(p);
      paragraph = [];
    }
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      const pre = document.createElement("pre");
      const c = document.createElement("code");
      if (fence[1].trim()) c.dataset.language = fence[1].trim();
      c.textContent = code.join("\n");
      pre.appendChild(c);
      container.appendChild(pre);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*+]|(\d+)[.)])\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const h = document.createElement("h" + Math.min(6, heading[1].length + 2));
      appendInline(h, heading[2]);
      container.appendChild(h);
    } else if (item) {
      if (paragraph.length) flush();
      const ordered = item[1] !== undefined;
      if (!list || (list.tagName === "OL") !== ordered) {
        list = document.createElement(ordered ? "ol" : "ul");
        container.appendChild(list);
      }
      const li = document.createElement("li");
      appendInline(li, item[2]);
      list.appendChild(li);
    } else if (!line.trim()) {
      flush();
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
}

// ---- The conversation -----------------------------------------------------------------------

function save() { localStorage.setItem(CHAT_KEY, JSON.stringify(messages)); }

function messageNode(m) {
  const div = document.createElement("div");
  div.className = "message " + m.role;
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = m.role;
  const body = document.createElement("div");
  body.className = "content";
  const note = document.createElement("div");
  note.className = "note";
  div.append(role, body, note);
  update(div, m);
  return div;
}

function update(div, m) {
  const body = div.querySelector(".content");
  if (m.role === "assistant") renderMarkdown(body, m.content);
  else body.textContent = m.content;
  div.querySelector(".note").textContent = m.note || "";
}

function renderAll() {
  const box = $("messages");
  box.replaceChildren(...messages.map(messageNode));
  box.scrollTop = box.scrollHeight;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

// Reads the server-sent events of a streamed completion, calling onChunk with each JSON chunk.
async function readEvents(response, onChunk) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        onChunk(JSON.parse(data));
      }
    }
  }
}

// The request: the model, the conversation, streamed with usage; the temperature when set.
function requestBody(history) {
  const body = { model: $("model").value, messages: history, stream: true,
                 stream_options: { include_usage: true } };
  const t = $("temperature").value.trim();
  if (t !== "") body.temperature = Number(t);
  return body;
}

async function send(text) {
  showError("");
  messages.push({ role: "user", content: text });
  const reply = { role: "assistant", content: "" };
  messages.push(reply);
  save();
  renderAll();
  const box = $("messages");
  const node = box.lastElementChild;
  const history = messages.slice(0, -1).map((m) => ({ role: m.role, content: m.content }));
  controller = new AbortController();
  setBusy(true);
  $("stats").textContent = "";
  const started = performance.now();
  let first = 0;
  let pieces = 0;
  let usage = null;
  let pending = false;
  const redraw = () => {
    pending = false;
    update(node, reply);
    box.scrollTop = box.scrollHeight;
  };
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify(requestBody(history)),
      signal: controller.signal,
    });
    if (response.status === 401) { logout(await errorText(response)); return; }
    if (!response.ok) throw new Error(await errorText(response));
    await readEvents(response, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message || "the server failed");
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      const delta = choice && choice.delta && choice.delta.content;
      if (delta) {
        if (!first) first = performance.now();
        pieces++;
        reply.content += delta;
        if (!pending) { pending = true; requestAnimationFrame(redraw); }
      }
      if (choice && choice.finish_reason === "length") reply.note = "(cut at the length limit)";
    });
  } catch (e) {
    if (e.name === "AbortError") reply.note = "(stopped)";
    else showError(e.message);
  } finally {
    controller = null;
    setBusy(false);
    update(node, reply);
    save();
    const tokens = usage ? usage.completion_tokens : pieces;
    const seconds = first ? (performance.now() - first) / 1000 : 0;
    const ttft = first ? ((first - started) / 1000).toFixed(2) + " s to the first token, " : "";
    $("stats").textContent = tokens + " tokens, " + ttft +
      (seconds > 0 && tokens > 1 ? ((tokens - 1) / seconds).toFixed(1) : "-") + " tok/s";
  }
}

// ---- Models and login -----------------------------------------------------------------------

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers(false) });
  if (response.status === 401) return false;
  if (!response.ok) throw new Error(await errorText(response));
  const body = await response.json();
  const select = $("model");
  select.replaceChildren();
  for (const m of body.data || []) {
    const option = document.createElement("option");
    option.value = m.id;
    option.textContent = m.id;
    select.appendChild(option);
  }
  const kept = localStorage.getItem(MODEL_KEY);
  if (kept && [...select.options].some((o) => o.value === kept)) select.value = kept;
  return true;
}

function showLogin(show) {
  $("login").hidden = !show;
  $("chat").hidden = show;
  $("controls").hidden = show;
  $("logout").hidden = show || !token();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (controller) controller.abort();
  showLogin(true);
  showError(message || "");
}

async function start() {
  try {
    if (await loadModels()) {
      showLogin(false);
      renderAll();
    } else {
      showLogin(true);
    }
  } catch (e) {
    showError(e.message);
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const form = new URLSearchParams();
  form.set("username", $("username").value);
  form.set("password", $("password").value);
  const response = await fetch("/token", { method: "POST", body: form });
  if (!response.ok) { showError(await errorText(response)); return; }
  const body = await response.json();
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  $("password").value = "";
  await start();
});

$("logout").addEventListener("click", () => logout(""));
$("new-chat").addEventListener("click", () => {
  if (controller) controller.abort();
  messages = [];
  save();
  renderAll();
  $("stats").textContent = "";
});
$("model").addEventListener("change", () => localStorage.setItem(MODEL_KEY, $("model").value));
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value.trim();
  if (!text || controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

try { messages = JSON.parse(localStorage.getItem(CHAT_KEY) || "[]"); } catch (_) { messages = []; }
if (!Array.isArray(messages)) messages = [];
start();
