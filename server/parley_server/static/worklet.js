// Parley player: an AudioWorkletProcessor with a small jitter buffer.
//
// The main thread posts, on this node's port:
//   {type: "start", gen}                       a new utterance: drop anything left, start buffering
//   {type: "data", gen, buffer, offset, length} mono float32 samples at the context's rate
//                                              (a transferred ArrayBuffer, no copy)
//   {type: "end", gen}                         every sample of the utterance has arrived
//   {type: "flush", gen}                       stop now: drop what is buffered, go idle
// Messages of any other generation than the current one are ignored, so frames still in flight
// after a Stop can never play.
//
// Jitter buffer: playback of an utterance starts once `prebufferSamples` (60 ms by default) are
// buffered, or at once when the whole utterance has arrived. If the buffer runs dry before the
// end, that is an underrun: silence is played, the counter goes up, and playback resumes once the
// buffer holds the target again. Each underrun raises the target by one prebuffer (up to four:
// 240 ms by default) for the rest of the utterance, so a slow network or a busy server costs one
// gap, not a stutter. The server sends its first chunk as a burst (~150 ms of audio), so the
// threshold is normally met by the first burst and adds no delay.
//
// It posts back: {type: "first", gen, time, frame} when the utterance's first sample is rendered
// (AudioContext time of that very sample), {type: "underrun", ...}, {type: "ended", ...} when the
// last sample is rendered, {type: "flushed", ...} after a flush, and {type: "stats", ...} about 20
// times a second while active. Every report carries played/buffered sample counts and underruns.

const REPORT_EVERY_FRAMES = 1024;

class ParleyPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.prebuffer = Math.max(128, opts.prebufferSamples || Math.round(0.06 * sampleRate));
    this.gen = 0;
    this.state = "idle"; // idle | buffering | playing | rebuffering
    this.resetStream();
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  resetStream() {
    this.queue = [];
    this.head = 0; // read position in queue[0]
    this.buffered = 0;
    this.ended = false;
    this.target = this.prebuffer; // samples buffered before playback (re)starts
    this.played = 0;
    this.underruns = 0;
    this.underrunFrames = 0;
    this.firstTime = null;
    this.sinceReport = 0;
  }

  onMessage(m) {
    if (m.type === "start") {
      this.resetStream();
      this.gen = m.gen;
      this.state = "buffering";
      this.report("stats");
      return;
    }
    if (m.gen !== this.gen || this.state === "idle") return;
    if (m.type === "data") {
      if (m.length > 0) {
        this.queue.push(new Float32Array(m.buffer, m.offset, m.length));
        this.buffered += m.length;
      }
    } else if (m.type === "end") {
      this.ended = true;
    } else if (m.type === "flush") {
      this.queue = [];
      this.head = 0;
      this.buffered = 0;
      this.state = "idle";
      this.report("flushed");
    }
  }

  report(type, extra) {
    this.sinceReport = 0;
    this.port.postMessage(
      Object.assign(
        {
          type,
          gen: this.gen,
          state: this.state,
          played: this.played,
          buffered: this.buffered,
          underruns: this.underruns,
          underrunFrames: this.underrunFrames,
          target: this.target,
          time: currentTime,
        },
        extra,
      ),
    );
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    const n = out.length;
    let i = 0;
    if (this.state === "buffering" || this.state === "rebuffering") {
      if (this.buffered >= this.target || (this.ended && this.buffered > 0)) {
        this.state = "playing";
      } else if (this.ended) {
        this.finish(0); // an utterance without audio
      } else if (this.state === "rebuffering") {
        this.underrunFrames += n;
      }
    }
    if (this.state === "playing") {
      if (this.firstTime === null) {
        this.firstTime = currentTime;
        this.report("first", { time: currentTime, frame: currentFrame });
      }
      while (i < n && this.buffered > 0) {
        const chunk = this.queue[0];
        const take = Math.min(n - i, chunk.length - this.head);
        out.set(chunk.subarray(this.head, this.head + take), i);
        i += take;
        this.head += take;
        this.buffered -= take;
        if (this.head === chunk.length) {
          this.queue.shift();
          this.head = 0;
        }
      }
      this.played += i;
      if (i < n) {
        if (this.ended) {
          this.finish(i);
        } else {
          this.underruns += 1;
          this.underrunFrames += n - i;
          this.target = Math.min(this.target + this.prebuffer, 4 * this.prebuffer);
          this.state = "rebuffering";
          this.report("underrun");
        }
      }
    }
    out.fill(0, i);
    if (this.state !== "idle") {
      this.sinceReport += n;
      if (this.sinceReport >= REPORT_EVERY_FRAMES) this.report("stats");
    }
    return true;
  }

  finish(frames) {
    this.state = "idle";
    this.report("ended", {
      firstTime: this.firstTime,
      // AudioContext time just after the utterance's last sample
      endTime: currentTime + frames / sampleRate,
    });
  }
}

registerProcessor("parley-player", ParleyPlayer);
