// Drawing a call: the transcript, the events list and the per-turn latency waterfall, from
// live events or from a call in the history. Only DOM APIs; nothing is parsed as HTML.
export const STAGES = [
  ["end_of_turn", "End of turn"],
  ["stt", "Speech to text"],
  ["model_first_token", "Model first token"],
  ["tts_first_audio", "Speech first audio"],
  ["total", "Total"],
];
const MAX_EVENTS = 400;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const ms = (value) => `${Math.round(value)} ms`;

// Change a scrolling list and keep it at its newest entry, unless the reader had scrolled up to
// read; the page itself never jumps.
function following(list, change) {
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  change();
  if (atEnd) list.scrollTop = list.scrollHeight;
}

export class Transcript {
  constructor(list, partial) {
    this.list = list;
    this.partial = partial;
  }

  clear() {
    this.list.replaceChildren();
    this.partial.textContent = "";
  }

  say(speaker, text, { agent = null, interrupted = false, source = null } = {}) {
    this.partial.textContent = "";
    const pending = speaker === "agent" ? this.list.querySelector("li.turn.agent[data-pending]") : null;
    const item = pending || el("li", { class: `turn ${speaker}`, "data-speaker": speaker });
    const who = speaker === "caller" ? "You" : agent || "Agent";
    following(this.list, () => {
      delete item.dataset.pending;
      if (agent) item.dataset.agent = agent;
      if (source) item.dataset.source = source;
      item.replaceChildren(el("span", { class: "who", text: source === "text" ? `${who} (typed)` : who }),
        el("p", { class: "said", text }));
      if (interrupted) {
        item.dataset.interrupted = "true";
        item.append(el("span", { class: "tag", text: "interrupted: only what you heard is kept" }));
      }
      if (!pending) this.list.append(item);
    });
  }

  // The agent started speaking: its words are shown once the reply is over (or cut short).
  speaking(agent) {
    const item = el("li", { class: "turn agent", "data-speaker": "agent", "data-pending": "true" },
      el("span", { class: "who", text: agent || "Agent" }), el("p", { class: "said speaking", text: "Speaking…" }));
    this.add(item);
  }

  // A reply cut short before a word of it was heard: its placeholder goes, so that the next
  // reply's words land in the next reply's place (replies report in the order they started).
  unheard() {
    const pending = this.list.querySelector("li.turn.agent[data-pending]");
    if (pending) pending.remove();
  }

  // The call is over: a reply that never reported its words leaves no placeholder behind.
  settle() {
    this.list.querySelectorAll("li[data-pending]").forEach((item) => item.remove());
  }

  note(kind, text) {
    this.add(el("li", { class: `note ${kind}`, "data-note": kind, text }));
  }

  hearing(text) {
    this.partial.textContent = text ? `Hearing: ${text}…` : "";
  }

  add(item) {
    following(this.list, () => this.list.append(item));
  }
}

export class EventLog {
  constructor(list, counter) {
    this.list = list;
    this.counter = counter;
    this.count = 0;
    this.start = null;
  }

  clear() {
    this.list.replaceChildren();
    this.count = 0;
    this.start = null;
    this.counter.textContent = "(0)";
  }

  add(type, at, summary, details) {
    const time = Date.parse(at);
    if (this.start === null && !Number.isNaN(time)) this.start = time;
    const offset = Number.isNaN(time) ? "" : `+${((time - this.start) / 1000).toFixed(2)} s`;
    const head = el("summary", {}, el("time", { datetime: at, text: offset }), " ",
      el("code", { text: type }), summary ? ` ${summary}` : "");
    const body = el("pre", { text: JSON.stringify(details, null, 2) });
    following(this.list, () => this.list.append(el("li", { "data-type": type }, el("details", {}, head, body))));
    while (this.list.childElementCount > MAX_EVENTS) this.list.firstElementChild.remove();
    this.count += 1;
    this.counter.textContent = `(${this.count})`;
  }
}

// One row per answered turn: stage bars on a common time scale, from the caller's last word.
// End of turn and STT are measured from that word; the model from its request (made at the end
// of the turn); the voice's first audio ends just before the first frame leaves, which is the
// total. So the speech bar ends at the total, and the model bar starts at the end of turn (when
// an earlier clause, such as a handoff's announcement, was spoken first, it reaches past it).
export class Waterfall {
  constructor(container, totals) {
    this.container = container;
    this.totals = totals;
    this.turns = [];
  }

  clear() {
    this.turns = [];
    this.container.replaceChildren(el("p", { class: "hint", text: "Each answered turn is drawn here." }));
    this.totals.hidden = true;
  }

  add(turn, agent, latency) {
    if (!latency || STAGES.every(([key]) => latency[`${key}_ms`] == null)) return;
    this.turns.push({ turn, agent, latency });
    this.draw();
  }

  static spans(latency) {
    const v = (key) => latency[`${key}_ms`] ?? null;
    const eot = v("end_of_turn") ?? 0;
    const model = v("model_first_token");
    const tts = v("tts_first_audio");
    const spans = {
      end_of_turn: v("end_of_turn") == null ? null : [0, eot],
      stt: v("stt") == null ? null : [0, v("stt")],
      model_first_token: model == null ? null : [eot, eot + model],
      tts_first_audio: tts == null ? null
        : v("total") == null ? [eot + (model ?? 0), eot + (model ?? 0) + tts]
        : [Math.max(0, v("total") - tts), v("total")],
      total: v("total") == null ? null : [0, v("total")],
    };
    return spans;
  }

  draw() {
    const all = this.turns.map((t) => Waterfall.spans(t.latency));
    const scale = Math.max(1, ...all.flatMap((s) => Object.values(s).filter(Boolean).map((x) => x[1])));
    this.container.replaceChildren(...this.turns.map((t, i) => this.row(t, all[i], scale)));
    this.drawTotals();
  }

  row({ turn, agent, latency }, spans, scale) {
    const total = latency.total_ms;
    const caption = `Turn ${turn}${agent ? ` · ${agent}` : ""}${total != null ? ` · total ${ms(total)}` : ""}`;
    const figure = el("figure", { class: "turn-latency", "data-turn": String(turn) },
      el("figcaption", { text: caption }));
    for (const [key, label] of STAGES) {
      const span = spans[key];
      const value = latency[`${key}_ms`];
      const track = el("div", { class: "track", "aria-hidden": "true" });
      if (span) {
        const bar = el("span", { class: `bar ${key}`, "data-stage": key });
        bar.style.left = `${(span[0] / scale) * 100}%`;
        bar.style.width = `${Math.max(0.5, ((span[1] - span[0]) / scale) * 100)}%`;
        track.append(bar);
      }
      figure.append(el("div", { class: "stage" }, el("span", { class: "label", text: label }), track,
        el("span", { class: "value", text: value == null ? "–" : ms(value) })));
    }
    return figure;
  }

  drawTotals() {
    const body = this.totals.tBodies[0];
    body.replaceChildren();
    for (const [key, label] of STAGES) {
      const values = this.turns.map((t) => t.latency[`${key}_ms`]).filter((x) => x != null);
      if (!values.length) continue;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      body.append(el("tr", { "data-stage": key }, el("th", { scope: "row", text: label }),
        el("td", { text: ms(values[values.length - 1]) }), el("td", { text: ms(mean) }),
        el("td", { text: ms(Math.max(...values)) })));
    }
    this.totals.hidden = this.turns.length === 0;
    this.totals.caption.textContent = `All turns (${this.turns.length})`;
  }
}
