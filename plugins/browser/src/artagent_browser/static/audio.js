// The page's audio: one AudioContext, a playback worklet for the agent's voice and, when the
// microphone is used, a capture worklet sending 20 ms PCM16 16 kHz frames. The browser's echo
// cancellation, noise suppression and gain control are asked for, so the agent does not hear
// itself through the speakers.
const BASE = "/browser/";

export const MIC_CONSTRAINTS = {
  audio: {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
    channelCount: 1,
  },
};

export class AudioIO {
  constructor({ onFrame, onStats }) {
    this.onFrame = onFrame;
    this.onStats = onStats;
    this.context = null;
    this.player = null;
    this.capture = null;
    this.stream = null;
    this.sending = false;
  }

  // Open the context and the player; with useMic, the microphone too (throws if refused).
  async start(useMic) {
    this.stream = useMic ? await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS) : null;
    this.context = await this.openContext();
    await this.context.audioWorklet.addModule(BASE + "playback-worklet.js");
    this.player = new AudioWorkletNode(this.context, "playback", { outputChannelCount: [1] });
    this.player.port.onmessage = (event) => this.onStats(event.data);
    this.player.connect(this.context.destination);
    if (this.stream) await this.openCapture();
    if (this.context.state !== "running") await this.context.resume();
  }

  // A 16 kHz context lets the browser resample with its own filters; a browser that cannot mix a
  // microphone into it gets a context at its own rate (the worklets resample then).
  async openContext() {
    try {
      const context = new AudioContext({ sampleRate: 16000, latencyHint: "interactive" });
      if (this.stream) context.createMediaStreamSource(this.stream).disconnect();
      return context;
    } catch (error) {
      console.warn("16 kHz audio context refused, using the default rate", error);
      return new AudioContext({ latencyHint: "interactive" });
    }
  }

  async openCapture() {
    await this.context.audioWorklet.addModule(BASE + "capture-worklet.js");
    const source = this.context.createMediaStreamSource(this.stream);
    this.capture = new AudioWorkletNode(this.context, "capture", { outputChannelCount: [1] });
    this.capture.port.onmessage = (event) => {
      if (this.sending) this.onFrame(event.data);
    };
    source.connect(this.capture);
    this.capture.connect(this.context.destination); // silent: it keeps the node pulled
  }

  // What the browser applied to the microphone (echo cancellation, noise suppression, ...).
  micSettings() {
    const track = this.stream ? this.stream.getAudioTracks()[0] : null;
    return track ? track.getSettings() : null;
  }

  // Caller frames go to the server only once the call runs.
  startSending() {
    this.sending = true;
  }

  play(buffer) {
    if (this.player) this.player.port.postMessage(buffer, [buffer]);
  }

  // The agent starts a new reply (its frames follow): a pause before it is not a dropout.
  replyStarted() {
    if (this.player) this.player.port.postMessage({ type: "reply" });
  }

  // The reply's last frame has come: play what is queued of it without waiting for more.
  replyDone() {
    if (this.player) this.player.port.postMessage({ type: "done" });
  }

  // Barge-in: drop every queued frame now.
  stopPlayback() {
    if (this.player) this.player.port.postMessage({ type: "stop" });
  }

  async close() {
    this.sending = false;
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    if (this.context) await this.context.close().catch(() => {});
    this.context = this.player = this.capture = this.stream = null;
  }
}
