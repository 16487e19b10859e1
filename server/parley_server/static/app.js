// Parley browser client: protocol v2 over the page's own WebSocket, audio through an AudioWorklet.
//
// Why v2: each utterance is a context, so Stop is one `cancel` of that context (the server answers
// `cancelled` at once and sends none of its frames after it), every binary frame names its
// context in a 20-byte header (frames still in flight after a Stop are recognised and dropped),
// and `create` takes an output `sample_rate_hz`, so the server's resampler delivers float32 PCM at
// the AudioContext's own rate and the browser does no resampling.
//
// Numbers for tests and curious people live on `window.parleyStats` (see `newUtterance()`).
"use strict";

const JITTER_BUFFER_MS = 60; // the worklet starts (and restarts after an underrun) at this level
const FRAME_MS = 20;
const HEADER_BYTES = 20; // magic u8, version u8, flags u8, format u8, stream u32, seq u32, offset u64
const HEADER_MAGIC = 0x50;
const FORMAT_F32 = 2;

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("speak-form"),
  voice: $("voice"),
  text: $("text"),
  speed: $("speed"),
  speedOut: $("speed-value"),
  speak: $("speak"),
  stop: $("stop"),
  status: $("status"),
  conn: $("connection"),
  ttfa: $("stat-ttfa"),
  underruns: $("stat-underruns"),
  played: $("stat-played"),
  buffered: $("stat-buffered"),
  server: $("stat-server"),
};

const stats = {
  connected: false,
  protocol: null,
  server: null,
  jitterBufferMs: JITTER_BUFFER_MS,
  contextSampleRateHz: null,
  outputLatencyMs: null,
  baseLatencyMs: null,
  utterances: 0,
  ...newUtterance(null),
};
window.parleyStats = stats;

/** Per-utterance fields of window.parleyStats (reset by every Speak). */
function newUtterance(context) {
  return {
    context, // the v2 context id of the current utterance
    state: "idle", // idle | requesting | buffering | playing | rebuffering | ended | stopped | error
    voice: null,
    speed: null,
    sampleRateHz: null, // of the stream (= the AudioContext's rate)
    framesReceived: 0,
    samplesReceived: 0,
    samplesPlayed: 0, // rendered by the worklet (silence during underruns not counted)
    playedMs: 0,
    bufferedMs: 0,
    jitterTargetMs: JITTER_BUFFER_MS, // grows by JITTER_BUFFER_MS after each underrun (max 4x)
    underruns: 0,
    underrunMs: 0,
    ttfaMs: null, // click -> first sample played out of the audio output (see onFirstSample())
    ttfaSource: null, // "output-timestamp" or "estimate" (see onFirstSample())
    firstFrameMs: null, // click -> first binary frame received (performance.now())
    playbackMs: null, // AudioContext time from the first to just after the last sample
    playbackWallMs: null, // the same on the page's clock (performance.now())
    serverDone: false,
    serverAudioMs: null, // `done.audio_ms`
    serverSamples: null,
    serverFirstAudioMs: null, // `done.first_audio_ms`: create received -> first frame sent
    cancelled: false, // the server confirmed the cancel
    samplesSentBeforeCancel: null,
    framesDroppedAfterStop: 0,
    error: null,
  };
}

// ------------------------------------------------------------------------------------------------
// Connection
// ------------------------------------------------------------------------------------------------

let ws = null;
let hello = null;
let voices = [];
let retryMs = 500;
let counter = 0;

function connect() {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/`;
  setConnection("Connecting…");
  ws = new WebSocket(url, ["parley.v2"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    if (ws.protocol !== "parley.v2") {
      setStatus(`The server did not accept protocol parley.v2 (got "${ws.protocol}").`);
      ws.close();
    }
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") onText(JSON.parse(event.data));
    else onFrame(event.data);
  };
  ws.onclose = () => {
    const wasConnected = stats.connected;
    stats.connected = false;
    hello = null;
    ui.speak.disabled = true;
    if (current && !current.ended) {
      // the server is gone: what has arrived still plays out
      current.ended = true;
      postToWorklet({ type: "end", gen: current.gen });
    }
    setConnection(`Disconnected; retrying in ${(retryMs / 1000).toFixed(1)} s`);
    if (wasConnected) setStatus("Connection to the server lost.");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function onText(m) {
  switch (m.type) {
    case "hello":
      hello = m;
      retryMs = 500;
      stats.connected = true;
      stats.protocol = m.protocol;
      stats.server = m.server;
      ui.speed.min = String(m.speed_min);
      ui.speed.max = String(m.speed_max);
      showSpeed();
      ui.text.maxLength = m.max_text_chars;
      setConnection(`Connected to ${m.server}`);
      send({ type: "voices" });
      break;
    case "voices":
      fillVoices(m.voices);
      ui.speak.disabled = voices.length === 0;
      prepareAudio(); // load the worklet now, so the first Speak does not wait for it
      break;
    case "created":
      if (current && m.context === current.id) {
        current.stream = m.stream;
        stats.sampleRateHz = m.sample_rate_hz;
      }
      break;
    case "done":
      if (current && m.context === current.id) {
        stats.serverDone = true;
        stats.serverAudioMs = m.audio_ms;
        stats.serverSamples = m.samples;
        stats.serverFirstAudioMs = m.first_audio_ms;
        ui.server.textContent = `${fmtMs(m.first_audio_ms)} to first audio, RTF ${m.rtf ?? "–"}`;
        current.ended = true;
        postToWorklet({ type: "end", gen: current.gen });
      }
      break;
    case "cancelled":
      if (lastStopped && m.context === lastStopped.id) {
        stats.cancelled = true;
        stats.samplesSentBeforeCancel = m.samples_sent;
      }
      break;
    case "error":
      // closed: the context failed; not closed but never created: its create was refused
      if (m.context && current && m.context === current.id && (m.closed || current.stream === null)) {
        stats.error = `${m.code}: ${m.message}`;
        stats.state = "error";
        setStatus(`Error: ${m.message}`);
        current.ended = true;
        postToWorklet({ type: "end", gen: current.gen }); // play what arrived
        current = null;
        ui.stop.disabled = true;
      } else if (!m.context || !lastStopped || m.context !== lastStopped.id) {
        setStatus(`Error: ${m.message}`);
      }
      break;
    default:
      break; // clients ignore messages they do not know
  }
}

function onFrame(buf) {
  if (buf.byteLength < HEADER_BYTES) return;
  const dv = new DataView(buf);
  if (dv.getUint8(0) !== HEADER_MAGIC || dv.getUint8(1) !== 2 || dv.getUint8(3) !== FORMAT_F32) return;
  const stream = dv.getUint32(4, true);
  if (!current || stream !== current.stream) {
    if (lastStopped && stream === lastStopped.stream) stats.framesDroppedAfterStop += 1;
    return;
  }
  const length = (buf.byteLength - HEADER_BYTES) / 4;
  if (stats.framesReceived === 0) stats.firstFrameMs = performance.now() - current.clickPerf;
  stats.framesReceived += 1;
  stats.samplesReceived += length;
  const msg = { type: "data", gen: current.gen, buffer: buf, offset: HEADER_BYTES, length };
  if (current.started) node.port.postMessage(msg, [buf]);
  else current.pending.push(msg); // the worklet is not ready yet (first Speak)
}

// ------------------------------------------------------------------------------------------------
// Voices and controls
// ------------------------------------------------------------------------------------------------

const languageNames = (() => {
  try {
    return new Intl.DisplayNames([navigator.language || "en"], { type: "language" });
  } catch {
    return null;
  }
})();

function languageLabel(tag) {
  if (!tag) return "Other";
  let name = tag;
  try {
    name = (languageNames && languageNames.of(tag)) || tag;
  } catch {
    /* an odd tag: show it as is */
  }
  return name === tag ? tag : `${name} (${tag})`;
}

function fillVoices(list) {
  voices = list;
  const previous = ui.voice.value;
  const groups = new Map();
  for (const v of [...list].sort((a, b) => a.id.localeCompare(b.id))) {
    const key = v.language || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(v);
  }
  ui.voice.replaceChildren();
  const keys = [...groups.keys()].sort((a, b) => languageLabel(a).localeCompare(languageLabel(b)));
  for (const key of keys) {
    const group = document.createElement("optgroup");
    group.label = languageLabel(key);
    for (const v of groups.get(key)) {
      const opt = document.createElement("option");
      opt.value = v.id;
      const details = [v.gender !== "unknown" ? v.gender : null, v.backend].filter(Boolean).join(", ");
      opt.textContent = details ? `${v.id} (${details})` : v.id;
      if (v.description) opt.title = v.description;
      group.append(opt);
    }
    ui.voice.append(group);
  }
  const ids = new Set(list.map((v) => v.id));
  ui.voice.value = ids.has(previous)
    ? previous
    : ids.has(hello?.default_voice)
      ? hello.default_voice
      : list[0]?.id;
}

function showSpeed() {
  const s = Number(ui.speed.value);
  ui.speedOut.textContent = `${s.toFixed(2)}×`;
  ui.speed.setAttribute("aria-valuetext", `${s.toFixed(2)} times`);
}

ui.speed.addEventListener("input", showSpeed);
ui.speed.addEventListener("change", () => {
  // on release (not every step of a drag): text not yet started is spoken at the new speed
  if (current && !current.ended && current.stream !== null) {
    send({ type: "update", context: current.id, speed: Number(ui.speed.value) });
  }
});
ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  speak();
});
ui.stop.addEventListener("click", () => stop());
ui.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!ui.speak.disabled) speak();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !ui.stop.disabled) stop();
});

// ------------------------------------------------------------------------------------------------
// Audio
// ------------------------------------------------------------------------------------------------

let audio = null; // AudioContext
let node = null; // AudioWorkletNode
let audioReady = null; // Promise<void>: the worklet is loaded and the node connected
let current = null; // the utterance being requested or played
let lastStopped = null;

/** Create the AudioContext and load the worklet (idempotent). In a browser that requires a user
 * gesture, the context stays suspended until the first Speak resumes it. */
function prepareAudio() {
  if (audioReady) return audioReady;
  const rates = hello ? hello.sample_rates_hz : [48000];
  audio = new AudioContext({ latencyHint: "interactive" });
  if (!rates.includes(audio.sampleRate)) {
    // the server cannot deliver this rate: run the context at 48 kHz (the browser resamples)
    audio.close();
    audio = new AudioContext({ latencyHint: "interactive", sampleRate: 48000 });
  }
  stats.contextSampleRateHz = audio.sampleRate;
  stats.baseLatencyMs = audio.baseLatency !== undefined ? round1(audio.baseLatency * 1000) : null;
  audioReady = audio.audioWorklet.addModule("worklet.js").then(() => {
    node = new AudioWorkletNode(audio, "parley-player", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { prebufferSamples: Math.round((JITTER_BUFFER_MS / 1000) * audio.sampleRate) },
    });
    node.port.onmessage = (event) => onWorklet(event.data);
    node.connect(audio.destination);
  });
  audioReady.catch((err) => setStatus(`Audio could not start: ${err}`));
  return audioReady;
}

function postToWorklet(msg) {
  if (current && !current.started && msg.gen === current.gen) current.pending.push(msg);
  else if (node) node.port.postMessage(msg);
}

async function speak() {
  const clickPerf = performance.now();
  const text = ui.text.value.trim();
  if (!text) {
    setStatus("Type something to speak first.");
    ui.text.focus();
    return;
  }
  if (current) stop({ quiet: true });
  prepareAudio();
  counter += 1;
  const u = {
    id: `u${counter}`,
    gen: counter,
    stream: null,
    clickPerf,
    firstPerf: null,
    started: false,
    ended: false,
    pending: [],
  };
  current = u;
  Object.assign(stats, newUtterance(u.id));
  stats.utterances += 1;
  stats.state = "requesting";
  stats.voice = ui.voice.value;
  stats.speed = Number(ui.speed.value);
  // ask first, so that synthesis overlaps with starting the audio
  send({
    type: "create",
    context: u.id,
    voice: stats.voice,
    format: "pcm_f32le",
    sample_rate_hz: audio.sampleRate,
    frame_ms: FRAME_MS,
    speed: stats.speed,
    text,
    end: true,
  });
  ui.stop.disabled = false;
  setStatus("Speaking…");
  renderStats();
  try {
    await audio.resume();
    await audioReady;
  } catch (err) {
    setStatus(`Audio could not start: ${err}`);
    return;
  }
  if (current !== u) return; // stopped or replaced meanwhile
  stats.outputLatencyMs = audio.outputLatency !== undefined ? round1(audio.outputLatency * 1000) : null;
  u.started = true;
  node.port.postMessage({ type: "start", gen: u.gen });
  for (const msg of u.pending) {
    if (msg.type === "data") node.port.postMessage(msg, [msg.buffer]);
    else node.port.postMessage(msg);
  }
  u.pending = [];
}

/** Stop the current utterance: cancel it on the server (if it is still streaming) and drop the
 * worklet's buffer at once. */
function stop({ quiet = false } = {}) {
  const u = current;
  if (!u) return;
  if (!u.ended) send({ type: "cancel", context: u.id });
  if (u.started) node.port.postMessage({ type: "flush", gen: u.gen });
  lastStopped = u;
  current = null;
  stats.state = "stopped";
  ui.stop.disabled = true;
  if (!quiet) setStatus(`Stopped after ${fmtMs(stats.playedMs)} of audio.`);
  renderStats();
}

/** Time to first audio, from the AudioContext time at which the worklet rendered the utterance's
 * first sample (`ctxTime`, sample-exact). AudioContext.getOutputTimestamp() pairs the context time
 * of the sample leaving the audio output now with performance.now(); with it the first sample's
 * context time maps onto the clock of the click, output latency included. Where the browser gives
 * no timestamp, the estimate is this message's arrival plus outputLatency. */
function onFirstSample(ctxTime) {
  const u = current;
  u.firstPerf = performance.now();
  const ts = audio.getOutputTimestamp ? audio.getOutputTimestamp() : null;
  if (ts && ts.performanceTime > 0 && ts.contextTime > 0) {
    const playedPerf = ts.performanceTime + 1000 * (ctxTime - ts.contextTime);
    stats.ttfaMs = round1(playedPerf - u.clickPerf);
    stats.ttfaSource = "output-timestamp";
  } else {
    stats.ttfaMs = round1(u.firstPerf - u.clickPerf + (stats.outputLatencyMs || 0));
    stats.ttfaSource = "estimate";
  }
}

function onWorklet(m) {
  const mine = current && m.gen === current.gen;
  const stopped = lastStopped && m.gen === lastStopped.gen && stats.context === lastStopped.id;
  if (!mine && !stopped) return;
  const rate = audio.sampleRate;
  stats.samplesPlayed = m.played;
  stats.playedMs = round1((1000 * m.played) / rate);
  stats.bufferedMs = round1((1000 * m.buffered) / rate);
  stats.jitterTargetMs = round1((1000 * m.target) / rate);
  stats.underruns = m.underruns;
  stats.underrunMs = round1((1000 * m.underrunFrames) / rate);
  if (mine) {
    if (m.type === "first") {
      onFirstSample(m.time);
    } else if (m.type === "ended") {
      stats.state = "ended";
      if (m.firstTime !== null) {
        stats.playbackMs = round1(1000 * (m.endTime - m.firstTime));
        if (current.firstPerf !== null) stats.playbackWallMs = round1(performance.now() - current.firstPerf);
      }
      current = null;
      ui.stop.disabled = true;
      setStatus(
        `Done: ${fmtMs(stats.playedMs)} of audio, first audio after ${fmtMs(stats.ttfaMs)}, ` +
          `${stats.underruns} underrun${stats.underruns === 1 ? "" : "s"}.`,
      );
    } else if (stats.state !== "error") {
      stats.state = m.state === "idle" ? stats.state : m.state;
    }
  }
  renderStats();
}

// ------------------------------------------------------------------------------------------------
// Display
// ------------------------------------------------------------------------------------------------

function round1(x) {
  return Math.round(x * 10) / 10;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 1 : 2)} s` : `${Math.round(ms)} ms`;
}

function setStatus(text) {
  ui.status.textContent = text;
}

function setConnection(text) {
  ui.conn.textContent = text;
}

function renderStats() {
  ui.ttfa.textContent =
    stats.ttfaMs === null
      ? "–"
      : `${fmtMs(stats.ttfaMs)} (first audio frame arrived after ${fmtMs(stats.firstFrameMs)})`;
  ui.underruns.textContent = String(stats.underruns);
  ui.played.textContent = fmtMs(stats.playedMs);
  ui.buffered.textContent = `${fmtMs(stats.bufferedMs)} buffered (plays from ${fmtMs(stats.jitterTargetMs)})`;
}

renderStats();
connect();
