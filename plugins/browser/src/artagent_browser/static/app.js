// The page: pick a scenario, start a conversation over /api/v1/browser/conversation (protocol in
// docs/browser.md), and show what happens live. A finished call is shown from the history with
// ?call=<id>: one of this tab's own calls with its view token (GET /api/v1/browser/calls/{id},
// which works when the operator routes need a token), any other from GET /api/v1/calls/{id}.
import { AudioIO } from "./audio.js";
import { EventLog, Transcript, Waterfall } from "./render.js";

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), scenario: $("scenario"), scenarioHelp: $("scenario-description"),
  start: $("start"), stop: $("stop"), useMic: $("use-mic"), password: $("password"),
  bearer: $("bearer"), text: $("text-input"), send: $("send"), stats: $("audio-stats"),
  callLink: $("call-link"), historyCall: $("history-call"),
};
const transcript = new Transcript($("transcript"), $("partial"));
const events = new EventLog($("events"), $("event-count"));
const waterfall = new Waterfall($("waterfall"), $("latency-totals"));
let settings = null;
let call = null; // { ws, audio, id, sentFrames }

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function setLive(live) {
  ui.start.disabled = live;
  ui.stop.disabled = !live;
  ui.scenario.disabled = live;
  ui.text.disabled = !live;
  ui.send.disabled = !live;
}

async function loadSettings() {
  const response = await fetch("/api/v1/browser/config");
  if (!response.ok) throw new Error(`settings: HTTP ${response.status}`);
  settings = await response.json();
  ui.scenario.replaceChildren();
  if (!settings.scenarios.length) ui.scenario.append(new Option("Default assistant", ""));
  for (const scenario of settings.scenarios) {
    const option = new Option(scenario.name, scenario.name);
    option.dataset.description = scenario.description || "";
    ui.scenario.append(option);
  }
  if (settings.default_scenario) ui.scenario.value = settings.default_scenario;
  describeScenario();
  $("password-field").hidden = settings.auth !== "password";
  $("bearer-field").hidden = settings.auth !== "oidc";
  const fragment = new URLSearchParams(location.hash.slice(1));
  const bearer = fragment.get("access_token") || fragment.get("id_token");
  if (bearer) ui.bearer.value = bearer;
  ui.text.maxLength = settings.limits.max_text_chars;
}

function describeScenario() {
  const option = ui.scenario.selectedOptions[0];
  ui.scenarioHelp.textContent = option ? option.dataset.description || "" : "";
}

function clearCall() {
  transcript.clear();
  events.clear();
  waterfall.clear();
  ui.callLink.textContent = "";
}

async function requestToken() {
  const body = { scenario: ui.scenario.value || null };
  const headers = { "content-type": "application/json" };
  if (settings.auth === "password") body.password = ui.password.value;
  if (settings.auth === "oidc") headers.authorization = `Bearer ${ui.bearer.value.trim()}`;
  const response = await fetch("/api/v1/browser/sessions", {
    method: "POST", headers, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
  return answer;
}

async function start(event) {
  event.preventDefault();
  if (call) return;
  clearCall();
  setLive(true);
  setStatus("connecting", "Connecting…");
  try {
    const session = await requestToken();
    if (session.view_token) sessionStorage.setItem(`artagent-view:${session.call_id}`, session.view_token);
    const audio = new AudioIO({ onFrame: sendFrame, onStats: showStats });
    try {
      await audio.start(ui.useMic.checked);
    } catch (error) {
      await audio.close();
      transcript.note("error", `Microphone unavailable (${error.message}): type instead.`);
      await audio.start(false);
    }
    const mic = audio.micSettings();
    ui.stats.dataset.echoCancellation = String(Boolean(mic && mic.echoCancellation));
    ui.stats.dataset.noiseSuppression = String(Boolean(mic && mic.noiseSuppression));
    const url = new URL(session.conversation, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", session.token);
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    call = { ws, audio, id: session.call_id, sentFrames: 0 };
    ws.onmessage = (message) => receive(call, message);
    ws.onclose = (closed) => finish(closed);
  } catch (error) {
    setStatus("error", `Could not start: ${error.message}`);
    setLive(false);
    if (call) await call.audio.close();
    call = null;
  }
}

function sendFrame(buffer) {
  if (call && call.ws.readyState === WebSocket.OPEN) {
    call.ws.send(buffer);
    call.sentFrames += 1;
    ui.stats.dataset.sentFrames = String(call.sentFrames);
  }
}

function receive(current, message) {
  if (message.data instanceof ArrayBuffer) {
    current.audio.play(message.data);
    return;
  }
  const data = JSON.parse(message.data);
  if (data.type === "event") {
    if (data.event.type === "playback_started") current.audio.replyStarted(); // before its frames
    else if (data.event.type === "agent_response_generated") current.audio.replyDone(); // after them
    showEvent(data.event);
  }
  else if (data.type === "stop") current.audio.stopPlayback();
  else if (data.type === "ready") {
    current.audio.startSending();
    setStatus("live", `Live: call ${data.call_id}${data.scenario ? ` (${data.scenario})` : ""}. Speak or type.`);
    ui.text.focus();
  } else if (data.type === "ended") {
    setStatus("ended", `Call ended: ${data.reason}.`);
  }
}

async function finish(closed) {
  const current = call;
  call = null;
  setLive(false);
  if (closed.code !== 1000) setStatus("error", `Connection closed (${closed.code}): ${closed.reason || "no reason given"}`);
  else if (ui.status.dataset.state !== "ended") setStatus("ended", "Call ended.");
  if (!current) return;
  await current.audio.close();
  const link = document.createElement("a");
  link.href = `/?call=${encodeURIComponent(current.id)}`;
  link.textContent = `Show call ${current.id} from the history`;
  ui.callLink.replaceChildren(link);
}

function stop() {
  if (call && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify({ type: "hangup" }));
}

function sendText(event) {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text || !call || call.ws.readyState !== WebSocket.OPEN) return;
  call.ws.send(JSON.stringify({ type: "text", text }));
  ui.text.value = "";
}

function showStats(stats) {
  const data = ui.stats.dataset;
  data.playedMs = String(Math.round(stats.playedMs));
  data.droppedMs = String(Math.round(stats.droppedMs));
  data.stops = String(stats.stops);
  data.gaps = String(stats.gaps);
  data.playing = String(stats.playing);
  ui.stats.textContent = `Agent audio: ${(stats.playedMs / 1000).toFixed(1)} s played, ` +
    `${Math.round(stats.bufferedMs)} ms queued, ${stats.stops} stopped by barge-in ` +
    `(${(stats.droppedMs / 1000).toFixed(1)} s dropped), ${stats.gaps} gaps.`;
}

// -- one event: the events list, and the transcript and waterfall where it matters -------------
const SUMMARIES = {
  transcription_received: (e) => `${e.is_final ? "final" : "partial"} “${e.text}”`,
  agent_response_generated: (e) => `${e.agent}: “${e.text}”`,
  agent_handoff: (e) => `${e.from_agent} → ${e.to_agent}`,
  tool_called: (e) => e.tool,
  tool_completed: (e) => `${e.tool} ${e.ok ? "ok" : "failed"}`,
  playback_interrupted: (e) => `after ${Math.round(e.heard_ms)} ms`,
  call_ended: (e) => e.reason,
  error_occurred: (e) => `${e.stage}: ${e.message}`,
};

function showEvent(e) {
  const summary = SUMMARIES[e.type] ? SUMMARIES[e.type](e) : "";
  events.add(e.type, e.occurred_at, summary, e);
  if (e.type === "transcription_received" && e.speaker === "caller") {
    if (e.is_final) transcript.say("caller", e.text, { source: e.source });
    else transcript.hearing(e.text);
  } else if (e.type === "agent_response_generated" && e.text) {
    transcript.say("agent", e.text, { agent: e.agent, interrupted: e.interrupted });
    waterfall.add(e.turn, e.agent, e.latency);
  } else if (e.type === "agent_response_generated") {
    transcript.unheard();
  } else if (e.type === "playback_started") {
    transcript.speaking(e.agent);
  } else if (e.type === "call_ended") {
    transcript.settle();
  } else if (e.type === "agent_handoff") {
    transcript.note("handoff", `Handoff: ${e.from_agent} → ${e.to_agent} (${e.kind})`);
  } else if (e.type === "tool_called") {
    transcript.note("tool", `Tool ${e.tool}${e.agent ? ` called by ${e.agent}` : ""}: ${JSON.stringify(e.arguments)}`);
  } else if (e.type === "tool_completed") {
    transcript.note("tool", `Tool ${e.tool} ${e.ok ? "returned" : "failed"}: ${JSON.stringify(e.result)}`);
  } else if (e.type === "playback_interrupted") {
    transcript.note("interrupted", `You interrupted ${e.agent} after ${(e.heard_ms / 1000).toFixed(1)} s`);
  } else if (e.type === "escalation_requested") {
    transcript.note("escalation", `Escalation requested: ${e.reason}`);
  } else if (e.type === "error_occurred") {
    transcript.note("error", `Error (${e.stage}): ${e.message}`);
  }
}

// -- a finished call, from the history ---------------------------------------------------------
async function showHistory(callId) {
  clearCall();
  setStatus("loading", `Loading call ${callId}…`);
  let response = null;
  const viewToken = sessionStorage.getItem(`artagent-view:${callId}`);
  const url = viewToken ? `/api/v1/browser/calls/${encodeURIComponent(callId)}` : `/api/v1/calls/${encodeURIComponent(callId)}`;
  const headers = viewToken ? { authorization: `Bearer ${viewToken}` } : {};
  for (let attempt = 0; attempt < 5; attempt++) { // a call that just ended may not be folded yet
    response = await fetch(url, { headers });
    if (response.status !== 404) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const doc = await response.json().catch(() => ({}));
  if (!response.ok) {
    setStatus("error", `Call ${callId}: ${doc.detail || `HTTP ${response.status}`}`);
    return;
  }
  const items = [
    ...doc.transcript.map((t) => ({ seq: t.seq, kind: "say", t })),
    ...doc.handoffs.map((h) => ({ seq: h.seq, kind: "handoff", h })),
    ...doc.tool_calls.map((c) => ({ seq: c.seq, kind: "tool", c })),
    // after the reply it cut short, which is published just after it
    ...doc.interruptions.map((i) => ({ seq: i.seq + 1.5, kind: "interrupted", i })),
    ...doc.escalations.map((x) => ({ seq: x.seq, kind: "escalation", x })),
    ...doc.errors.map((x) => ({ seq: x.seq, kind: "error", x })),
  ].sort((a, b) => a.seq - b.seq);
  for (const item of items) {
    if (item.kind === "say") {
      const t = item.t;
      transcript.say(t.speaker, t.text, { agent: t.speaker === "agent" ? t.agent : null, interrupted: t.interrupted });
      if (t.speaker === "agent") waterfall.add(t.turn, t.agent, t.latency);
    } else if (item.kind === "interrupted") {
      transcript.note("interrupted", `You interrupted ${item.i.agent || "the agent"} after ${(item.i.heard_ms / 1000).toFixed(1)} s`);
    } else if (item.kind === "escalation") {
      transcript.note("escalation", `Escalation requested: ${item.x.reason}`);
    } else if (item.kind === "error") {
      transcript.note("error", `Error (${item.x.stage}): ${item.x.message}`);
    } else if (item.kind === "handoff") {
      transcript.note("handoff", `Handoff: ${item.h.from_agent} → ${item.h.to_agent} (${item.h.kind})`);
    } else {
      const c = item.c;
      const by = c.agent ? ` called by ${c.agent}` : "";
      transcript.note("tool", `Tool ${c.tool}${by}: ${JSON.stringify(c.arguments)} ${c.ok === false ? "failed" : "returned"}: ${JSON.stringify(c.result)}`);
    }
  }
  // The history keeps one folded document per call, not the raw events: show the document.
  events.add("call", doc.started_at, `${doc.status}${doc.end_reason ? `: ${doc.end_reason}` : ""} ` +
    `(${doc.event_count} events folded by the history)`, doc);
  const state = doc.live ? "live in progress" : `ended (${doc.end_reason || doc.outcome || "unknown"})`;
  setStatus("history", `Call ${callId} from the history: ${state}, ${doc.turns} turns.`);
}

async function main() {
  ui.scenario.addEventListener("change", describeScenario);
  $("start-form").addEventListener("submit", start);
  ui.stop.addEventListener("click", stop);
  $("text-form").addEventListener("submit", sendText);
  $("history-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = ui.historyCall.value.trim();
    if (id) showHistory(id);
  });
  try {
    await loadSettings();
    setStatus("idle", "Ready: pick a scenario and press Start.");
  } catch (error) {
    setStatus("error", `Cannot reach the server: ${error.message}`);
    return;
  }
  const requested = new URLSearchParams(location.search).get("call");
  if (requested) {
    ui.historyCall.value = requested;
    await showHistory(requested);
  }
}

main();
