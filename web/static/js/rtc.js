// Media with the server (never peer-to-peer): two connections per page.
// - publisher: this page offers its microphone, camera and (idle until shared) screen;
// - subscriber: the server offers everyone else's tracks and renegotiates as people come and go.
// Each side only offers on its own connection, so offers never collide.

const GATHER_WAIT_MS = 1500;
/** What data-saver mode sends and receives for video; the server applies the same figure. */
const DATA_SAVER_BPS = 150000;

function waitForGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_WAIT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function failure(reply) {
  return Object.assign(new Error(reply.error.message), { code: reply.error.code });
}

export class MediaSession {
  /**
   * @param onRemote called with [{participant_id, source: "camera"|"screen", stream}] whenever
   *   what this page receives changes.
   */
  constructor(socket, me, localStream, onRemote, onFailure = () => {}) {
    this.socket = socket;
    this.onFailure = onFailure;
    this.localStream = localStream;
    this.onRemote = onRemote;
    this.config = {
      iceServers: me.ice_servers,
      iceTransportPolicy: me.ice_transport_policy ?? "all",
      bundlePolicy: "max-bundle",
    };
    this.publisher = new RTCPeerConnection(this.config);
    this.watch(this.publisher);
    this.subscriber = null;
    this.tracks = {};
    this.streams = new Map();
    this.negotiation = Promise.resolve();
    this.cameraSender = null;
    this.screenSender = null;
    this.screenTrack = null;
    this.closed = false;
    this.onSubscriberOffer = (offer) => {
      this.negotiation = this.negotiation.then(() => this.answerSubscriber(offer)).catch(() => {});
    };
    socket.on("media:subscriber_offer", this.onSubscriberOffer);
    this.serverCap = null;
    this.dataSaver = false;
    this.audioOnly = false;
    this.onBitrate = ({ max_bitrate_bps }) => this.capCamera(max_bitrate_bps);
    socket.on("media:bitrate", this.onBitrate);
  }

  /** The server forwards without re-encoding, so this page's encoder must follow the receivers. */
  async capCamera(maxBitrate) {
    this.serverCap = maxBitrate;
    await this.applyCameraLimits();
  }

  /** The receivers' cap, lowered further (smaller, slower picture) while data saver is on. */
  async applyCameraLimits() {
    if (!this.cameraSender) return;
    const parameters = this.cameraSender.getParameters();
    if (!parameters.encodings?.length) parameters.encodings = [{}];
    const caps = [this.serverCap, this.dataSaver ? DATA_SAVER_BPS : null].filter((cap) => cap !== null);
    const [encoding] = parameters.encodings;
    if (caps.length) encoding.maxBitrate = Math.min(...caps);
    else delete encoding.maxBitrate;
    encoding.scaleResolutionDownBy = this.dataSaver ? 2 : 1;
    encoding.maxFramerate = this.dataSaver ? 15 : 30;
    await this.cameraSender.setParameters(parameters).catch(() => {});
  }

  async start() {
    const pc = this.publisher;
    const named = [];
    const [audio] = this.localStream.getAudioTracks();
    const [video] = this.localStream.getVideoTracks();
    if (audio) named.push([pc.addTransceiver(audio, { direction: "sendonly", streams: [this.localStream] }), "microphone"]);
    if (video) {
      const camera = pc.addTransceiver(video, { direction: "sendonly", streams: [this.localStream] });
      this.cameraSender = camera.sender;
      named.push([camera, "camera"]);
    }
    const screen = pc.addTransceiver("video", { direction: "sendonly" });
    this.screenSender = screen.sender;
    named.push([screen, "screen"]);
    const early = this.trickle(pc, "publisher");
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    early.ready = true;
    const reply = await this.socket.timeout(15000).emitWithAck("media:offer", {
      type: "offer",
      sdp: pc.localDescription.sdp,
      sources: Object.fromEntries(named.map(([transceiver, source]) => [transceiver.mid, source])),
    });
    if (!reply.ok) throw failure(reply);
    await pc.setRemoteDescription(reply.answer);
    early.flush();
  }

  /** A connection that failed, or stayed disconnected for 4 s, is given up: the page starts again. */
  watch(pc) {
    let timer = null;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(timer);
      if (this.closed) return;
      if (pc.connectionState === "failed") this.onFailure();
      else if (pc.connectionState === "disconnected") timer = setTimeout(() => this.onFailure(), 4000);
    });
  }

  // Candidates found before the description left travel inside it; later ones are trickled
  // once the other side has the description.
  trickle(pc, target) {
    const state = { ready: false, sent: false, pending: [] };
    const send = (candidate) => {
      const { candidate: text, sdpMid, sdpMLineIndex } = candidate.toJSON();
      this.socket.emit("media:candidate", { candidate: text, sdpMid, sdpMLineIndex, target });
    };
    pc.addEventListener("icecandidate", (event) => {
      if (!event.candidate || !state.ready) return;
      if (state.sent) send(event.candidate);
      else state.pending.push(event.candidate);
    });
    state.flush = () => {
      state.sent = true;
      for (const candidate of state.pending.splice(0)) send(candidate);
    };
    return state;
  }

  async answerSubscriber({ sdp, revision, tracks }) {
    if (this.closed) return;
    let trickle = null;
    if (!this.subscriber) {
      this.subscriber = new RTCPeerConnection(this.config);
      this.watch(this.subscriber);
      this.subscriber.addEventListener("track", ({ track }) => {
        // A screen is shown only while it carries media; mute/unmute follow the sender.
        track.addEventListener("mute", () => this.render());
        track.addEventListener("unmute", () => this.render());
        this.render();
      });
      trickle = this.trickle(this.subscriber, "subscriber");
    }
    const pc = this.subscriber;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForGathering(pc);
    if (trickle) trickle.ready = true;
    this.tracks = tracks;
    const reply = await this.socket.timeout(15000).emitWithAck("media:subscriber_answer", {
      type: "answer",
      sdp: pc.localDescription.sdp,
      revision,
    });
    trickle?.flush();
    if (!reply.ok && reply.error.code !== "stale_answer") throw failure(reply);
    this.render();
  }

  /** Group received tracks into one stream per participant camera (with its audio) and per screen. */
  render() {
    if (!this.subscriber || this.closed) return;
    const wanted = new Map();
    for (const transceiver of this.subscriber.getTransceivers()) {
      const info = this.tracks[transceiver.mid];
      if (!info || transceiver.currentDirection === "inactive" || transceiver.stopped) continue;
      const source = info.source === "screen" ? "screen" : "camera";
      if (source === "screen" && transceiver.receiver.track.muted) continue;
      const key = `${info.participant_id}:${source}`;
      if (!wanted.has(key)) wanted.set(key, { participant_id: info.participant_id, source, tracks: [] });
      wanted.get(key).tracks.push(transceiver.receiver.track);
    }
    for (const key of [...this.streams.keys()]) if (!wanted.has(key)) this.streams.delete(key);
    const tiles = [];
    for (const [key, tile] of wanted) {
      let stream = this.streams.get(key);
      if (!stream) this.streams.set(key, (stream = new MediaStream()));
      for (const track of stream.getTracks()) if (!tile.tracks.includes(track)) stream.removeTrack(track);
      for (const track of tile.tracks) if (!stream.getTracks().includes(track)) stream.addTrack(track);
      tiles.push({ participant_id: tile.participant_id, source: tile.source, stream });
    }
    this.onRemote(tiles);
  }

  setAudio(enabled) {
    for (const track of this.localStream.getAudioTracks()) track.enabled = enabled;
  }

  setVideo(enabled) {
    for (const track of this.localStream.getVideoTracks()) track.enabled = enabled;
  }

  /** Audio only: stop sending and receiving video (saves data); `false` brings video back. */
  async setAudioOnly(audioOnly) {
    const [camera] = this.localStream.getVideoTracks();
    await this.cameraSender?.replaceTrack(audioOnly ? null : camera ?? null);
    this.audioOnly = audioOnly;
    await this.requestReceive();
  }

  /** Data saver: video stays, but small and slow both ways (about 150 kbit/s each). */
  async setDataSaver(dataSaver) {
    this.dataSaver = dataSaver;
    await this.applyCameraLimits();
    await this.requestReceive();
  }

  async requestReceive() {
    const request = { video: !this.audioOnly, data_saver: this.dataSaver };
    const reply = await this.socket.timeout(10000).emitWithAck("media:receive", request);
    if (!reply.ok) throw failure(reply);
  }

  async shareScreen() {
    const capture = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10 } }, audio: false });
    this.screenTrack = capture.getVideoTracks()[0];
    this.screenTrack.addEventListener("ended", () => this.stopScreen());
    await this.screenSender.replaceTrack(this.screenTrack);
  }

  async stopScreen() {
    this.screenTrack?.stop();
    this.screenTrack = null;
    await this.screenSender?.replaceTrack(null);
  }

  get sharingScreen() {
    return this.screenTrack !== null;
  }

  close() {
    this.closed = true;
    this.socket.off("media:subscriber_offer", this.onSubscriberOffer);
    this.socket.off("media:bitrate", this.onBitrate);
    this.screenTrack?.stop();
    this.publisher.close();
    this.subscriber?.close();
    this.onRemote([]);
  }
}

/** Camera and microphone, with the microphone level reported to `onLevel` (0..1). */
export async function openDevices(onLevel) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 25 } },
  });
  let stopMeter = () => {};
  if (onLevel && stream.getAudioTracks().length) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const timer = setInterval(() => {
      analyser.getByteTimeDomainData(samples);
      let peak = 0;
      for (const sample of samples) peak = Math.max(peak, Math.abs(sample - 128));
      onLevel(Math.min(1, peak / 64));
    }, 100);
    stopMeter = () => {
      clearInterval(timer);
      context.close();
    };
  }
  return { stream, stopMeter };
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/**
 * Show remote tiles: the first camera in `main`, everyone else (and screens) in `container`.
 * Video elements are kept per tile so a renegotiation does not restart playback.
 */
export function renderTiles(main, container, tiles, labelFor) {
  const [first, ...rest] = [...tiles.filter((t) => t.source === "camera"), ...tiles.filter((t) => t.source === "screen")];
  if (main.srcObject !== (first?.stream ?? null)) main.srcObject = first?.stream ?? null;
  main.dataset.participant = first?.participant_id ?? "";
  const keep = new Set();
  for (const tile of rest) {
    const key = `${tile.participant_id}:${tile.source}`;
    keep.add(key);
    let figure = container.querySelector(`figure[data-key="${CSS.escape(key)}"]`);
    if (!figure) {
      figure = document.createElement("figure");
      figure.dataset.key = key;
      figure.dataset.participant = tile.participant_id;
      figure.dataset.source = tile.source;
      figure.className = `tile ${tile.source}`;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const caption = document.createElement("figcaption");
      figure.append(video, caption);
      container.append(figure);
    }
    figure.querySelector("figcaption").textContent = labelFor(tile);
    const video = figure.querySelector("video");
    if (video.srcObject !== tile.stream) video.srcObject = tile.stream;
  }
  for (const figure of [...container.querySelectorAll("figure[data-key]")]) {
    if (!keep.has(figure.dataset.key)) figure.remove();
  }
}
