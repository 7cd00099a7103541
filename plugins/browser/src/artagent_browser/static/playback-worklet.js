// Agent audio on the audio thread: PCM16 16 kHz frames from the server are queued and played
// without gaps. The page tells this processor where each reply starts ("reply": the server's
// playback_started comes before the reply's first frame) and ends ("done": its
// agent_response_generated comes after the last frame). A reply starts playing once
// PREBUFFER_S of it is queued, or once it is done with less than that (a short reply). The
// server sends only `[session] lead_ms` (60 ms) ahead of real time, so the page waits for the
// rest of its buffer: a reply starts about PREBUFFER_S - lead_ms later than it could, and the
// page then rides out a network, server or browser stall of up to about PREBUFFER_S without a
// dropout. After a dropout, it buffers as much again before playing on. "stop" (barge-in)
// drops everything queued at once. A gap is a dropout the caller hears inside a reply: the
// queue ran dry and the same reply's audio came back within GAP_WINDOW_S; the pause between two
// replies is not one. Statistics go back to the page several times a second.
const IN_RATE = 16000;
const PREBUFFER_S = 0.12;
const STRANDED_S = 1.0; // a reply whose end never came: play what it left after this
const GAP_WINDOW_S = 0.5;
const REPORT_EVERY_S = 0.2;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = IN_RATE / sampleRate; // input samples per output sample
    this.queue = [];
    this.current = null;
    this.pos = 0; // fractional read position in this.current
    this.buffered = 0; // input samples queued
    this.playing = false;
    this.lastArrival = 0;
    this.underrunAt = -1;
    this.open = true; // a reply is arriving: wait for its prebuffer
    this.stats = { playedMs: 0, droppedMs: 0, stops: 0, gaps: 0, bufferedMs: 0, playing: false };
    this.lastReport = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      const pcm = new Int16Array(data);
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
      this.queue.push(samples);
      this.buffered += samples.length;
      this.lastArrival = currentTime;
      if (this.underrunAt >= 0 && currentTime - this.underrunAt < GAP_WINDOW_S) this.stats.gaps += 1;
      this.underrunAt = -1;
    } else if (data && data.type === "reply") {
      this.open = true;
      this.underrunAt = -1; // the queue ran dry at the end of the previous reply
    } else if (data && data.type === "done") {
      this.open = false; // play what is left of it, however little
    } else if (data && data.type === "stop") {
      this.stats.droppedMs += (this.buffered / IN_RATE) * 1000;
      this.stats.stops += 1;
      this.queue = [];
      this.current = null;
      this.pos = 0;
      this.buffered = 0;
      this.playing = false;
      this.underrunAt = -1;
      this.report(true);
    }
  }

  next() {
    // The sample at the read position (linear interpolation between input samples), or null.
    while (this.current === null || this.pos >= this.current.length) {
      if (this.current !== null) this.pos -= this.current.length;
      this.current = this.queue.shift() || null;
      if (this.current === null) return null;
    }
    const i = Math.floor(this.pos);
    const frac = this.pos - i;
    const a = this.current[i];
    const b = i + 1 < this.current.length ? this.current[i + 1] : (this.queue[0] ? this.queue[0][0] : a);
    this.pos += this.step;
    this.buffered -= this.step;
    return a + (b - a) * frac;
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.buffered > 0) {
      const stranded = currentTime - this.lastArrival >= STRANDED_S;
      this.playing = this.buffered >= PREBUFFER_S * IN_RATE || !this.open || stranded;
    }
    let played = 0;
    for (let i = 0; i < out.length; i++) {
      const sample = this.playing ? this.next() : null;
      if (sample === null) {
        if (this.playing) {
          this.playing = false;
          if (this.open) this.underrunAt = currentTime; // more of this reply may come
          this.buffered = 0;
        }
        out[i] = 0;
      } else {
        out[i] = sample;
        played += 1;
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    this.stats.playedMs += (played / sampleRate) * 1000;
    this.report(false);
    return true;
  }

  report(now) {
    if (!now && currentTime - this.lastReport < REPORT_EVERY_S) return;
    this.lastReport = currentTime;
    this.stats.bufferedMs = Math.max(0, (this.buffered / IN_RATE) * 1000);
    this.stats.playing = this.playing;
    this.port.postMessage({ ...this.stats });
  }
}

registerProcessor("playback", PlaybackProcessor);
