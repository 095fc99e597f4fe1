// Media with the server (never peer-to-peer): two connections per page.
// - publisher: this page offers its microphone, camera and (idle until shared) screen;
// - subscriber: the server offers everyone else's tracks and renegotiates as people come and go.
// Each side only offers on its own connection, so offers never collide.

const GATHER_WAIT_MS = 1500;
/** What data-saver mode sends and receives for video; the server applies the same figure. */
const DATA_SAVER_BPS = 150000;
/** How often the page tells the server what it received (`media:link_report`). */
const LINK_REPORT_MS = 1000;
/** Counts over a longer gap (a throttled background tab) say nothing of the link now: not sent. */
const STALE_LINK_COUNTS_MS = 3 * LINK_REPORT_MS;
/** How often the page looks at its counts while the server waits for packets to resume its video. */
const WANTED_CHECK_MS = 100;

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

/** What a receiving connection counted so far: RTP packets per stream, and its sender reports. */
async function readLink(pc) {
  const counts = new Map();
  const senderReports = new Map();
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && (r.kind === "audio" || r.kind === "video")) {
      counts.set(r.id, { kind: r.kind, received: r.packetsReceived ?? 0, lost: r.packetsLost ?? 0 });
    } else if (r.type === "remote-outbound-rtp" && r.remoteTimestamp) {
      senderReports.set(r.id, { sent: r.remoteTimestamp, arrived: r.timestamp });
    }
  });
  return { counts, senderReports };
}

/** Packets received and lost of each kind between two readings (a stream new since is left out). */
function linkCountsSince(before, now) {
  const report = { audio_received: 0, audio_lost: 0, video_received: 0, video_lost: 0 };
  for (const [id, count] of now) {
    const earlier = before.get(id);
    if (!earlier) continue; // a stream new since the last report is counted from the next one
    report[`${count.kind}_received`] += Math.max(0, count.received - earlier.received);
    report[`${count.kind}_lost`] += Math.max(0, count.lost - earlier.lost);
  }
  return report;
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
    // Nothing to send (no camera or microphone works): the page joins to watch and listen only.
    this.receiveOnly = localStream.getTracks().length === 0;
    this.publisher = null;
    this.subscriber = null;
    this.tracks = {};
    this.streams = new Map();
    this.negotiation = Promise.resolve();
    this.cameraSender = null;
    this.audioSender = null;
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
    this.onBitrate = ({ source, max_bitrate_bps }) =>
      source === "microphone" ? this.capMicrophone(max_bitrate_bps) : this.capCamera(max_bitrate_bps);
    socket.on("media:bitrate", this.onBitrate);
    this.linkCounts = null;
    this.oneWay = null;
    this.reporting = false;
    this.linkTimer = setInterval(() => this.reportLink().catch(() => {}), LINK_REPORT_MS);
    this.wanted = null;
    this.onLinkReportWanted = ({ packets }) => this.reportOnceReceived(packets);
    socket.on("media:link_report_wanted", this.onLinkReportWanted);
  }

  /**
   * Tell the server what this page received since its last report: RTP packets of each kind,
   * received and lost, as the browser counts them. While the server holds video back for a weak
   * link only audio arrives, whose receiver reports the browser sends every ~5 s only; these
   * counts let the server see within a second or two that the link is clean again.
   */
  async reportLink() {
    // One at a time: two readings in flight could count the same packets in two reports.
    if (this.reporting) return;
    this.reporting = true;
    try {
      await this.sendLinkReport();
    } finally {
      this.reporting = false;
    }
  }

  async sendLinkReport() {
    this.stopWanting(); // this report answers the server's last wish; its reply brings the next
    const pc = this.subscriber;
    if (!pc || this.closed || pc.connectionState !== "connected") return;
    const { counts, senderReports } = await readLink(pc);
    const queue = this.queueOnLink(pc, senderReports);
    const at = performance.now();
    const previous = this.linkCounts;
    this.linkCounts = { pc, at, counts };
    if (previous?.pc !== pc || at - previous.at > STALE_LINK_COUNTS_MS || this.closed) return;
    const report = linkCountsSince(previous.counts, counts);
    if (!Object.values(report).some((count) => count > 0)) return;
    if (queue !== null) report.queue_ms = queue;
    this.socket.emit("media:link_report", report);
  }

  /**
   * The server holds this page's video back for a weak link, and `packets` more received
   * without a loss would bring it back: report as soon as they have arrived, not at the next
   * whole second, which the resume waited for half a second on average. After a loss, the
   * regular report tells the server.
   */
  reportOnceReceived(packets) {
    this.stopWanting();
    if (this.closed || !(packets > 0)) return;
    const timer = setInterval(() => this.checkWanted().catch(() => {}), WANTED_CHECK_MS);
    this.wanted = { packets, timer };
  }

  stopWanting() {
    if (this.wanted) clearInterval(this.wanted.timer);
    this.wanted = null;
  }

  async checkWanted() {
    const { wanted, linkCounts: previous } = this;
    const pc = this.subscriber;
    if (!wanted || !pc || this.closed || previous?.pc !== pc) return this.stopWanting();
    const { counts } = await readLink(pc);
    if (this.wanted !== wanted || this.linkCounts !== previous) return; // a report went meanwhile
    const since = linkCountsSince(previous.counts, counts);
    if (since.audio_lost + since.video_lost > 0) this.stopWanting();
    else if (since.audio_received + since.video_received >= wanted.packets) await this.reportLink();
  }

  /**
   * How much longer than the least seen the newest sender report took to reach this page (ms),
   * or null without a new one. The server dates each report when it sends it, so its arrival
   * time less that date is the one-way delay plus the two clocks' offset, and the excess over
   * the least is what waits in a queue on the link towards this page alone (a round trip also
   * carries this page's uplink). The server slows the probes it sends while that queue grows.
   * Only the newest report counts: an older one of another stream still showed the queue of a
   * link that had just cleared, and the probes slowed down when they could have sped up.
   */
  queueOnLink(pc, senderReports) {
    if (this.oneWay?.pc !== pc) this.oneWay = { pc, least: Infinity, seen: new Map() };
    const state = this.oneWay;
    let newest = null;
    for (const [id, { sent, arrived }] of senderReports) {
      if (state.seen.get(id) === sent) continue; // no new report on this stream since the last
      state.seen.set(id, sent);
      const delay = arrived - sent;
      state.least = Math.min(state.least, delay);
      if (newest === null || arrived > newest.arrived) newest = { arrived, delay };
    }
    return newest === null ? null : Math.min(10000, Math.round(newest.delay - state.least));
  }

  /** The server forwards without re-encoding, so this page's encoder must follow the receivers. */
  async capCamera(maxBitrate) {
    this.serverCap = maxBitrate;
    await this.applyCameraLimits();
  }

  /**
   * While someone hears this page over a congested link the server asks for less audio (`null`
   * lifts the cap): forwarded audio reaches no encoder but this one.
   */
  async capMicrophone(maxBitrate) {
    if (!this.audioSender) return;
    const parameters = this.audioSender.getParameters();
    if (!parameters.encodings?.length) parameters.encodings = [{}];
    const [encoding] = parameters.encodings;
    if (maxBitrate == null) delete encoding.maxBitrate;
    else encoding.maxBitrate = maxBitrate;
    await this.audioSender.setParameters(parameters).catch(() => {});
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
    if (this.receiveOnly) {
      // The server offers everyone else's media on the subscribing connection, as to anyone.
      const reply = await this.socket.timeout(15000).emitWithAck("media:subscribe", {});
      if (!reply.ok) throw failure(reply);
      return;
    }
    const pc = (this.publisher = new RTCPeerConnection(this.config));
    this.watch(pc);
    const named = [];
    const [audio] = this.localStream.getAudioTracks();
    const [video] = this.localStream.getVideoTracks();
    if (audio) {
      const microphone = pc.addTransceiver(audio, { direction: "sendonly", streams: [this.localStream] });
      this.audioSender = microphone.sender;
      named.push([microphone, "microphone"]);
    }
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

  /**
   * A device changed under the call (another camera, a microphone opened again after the old one
   * ended): the same sender carries the new track, so nothing is renegotiated. Returns false when
   * this session never sent that kind (it started without it): the caller starts media again.
   */
  async useTrack(kind, track) {
    const sender = kind === "audio" ? this.audioSender : this.cameraSender;
    if (!sender) return track === null;
    if (kind === "video" && this.audioOnly) return true; // setAudioOnly(false) takes it from the stream
    await sender.replaceTrack(track);
    return true;
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
    if (!this.screenSender) throw new Error("This page joined to watch and listen only.");
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
    clearInterval(this.linkTimer);
    this.stopWanting();
    this.socket.off("media:link_report_wanted", this.onLinkReportWanted);
    this.socket.off("media:subscriber_offer", this.onSubscriberOffer);
    this.socket.off("media:bitrate", this.onBitrate);
    this.screenTrack?.stop();
    this.publisher?.close();
    this.subscriber?.close();
    this.onRemote([]);
  }
}

const AUDIO = { echoCancellation: true, noiseSuppression: true };
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 25 } };
const NAMES = { audio: "microphone", video: "camera" };

/** Why a device could not be used: `blocked` (the person or the browser's settings said no) or `missing`. */
export function deviceProblem(error) {
  return ["NotAllowedError", "SecurityError"].includes(error?.name) ? "blocked" : "missing";
}

function constraints(kind, deviceId) {
  const base = kind === "audio" ? AUDIO : VIDEO;
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

/**
 * One track of `kind` ("audio" | "video"): the device asked for, else any of that kind (the one
 * chosen may be gone). Throws the browser's error when none can be used.
 */
export async function captureTrack(kind, deviceId = null) {
  if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error("No media devices"), { name: "SecurityError" });
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(kind, deviceId) });
    return stream.getTracks()[0];
  } catch (error) {
    if (!deviceId || deviceProblem(error) === "blocked") throw error;
    return captureTrack(kind, null);
  }
}

/**
 * The camera and the microphone, each as far as it works: `{ stream, status: { camera,
 * microphone } }` with each status `ok`, `blocked` or `missing`; the stream holds what works
 * (possibly nothing). Both are asked for at once first, so a browser asks permission once; if that
 * fails (one is blocked or absent), each is asked for on its own, so whatever works is used.
 * `choice` names the devices picked (`{ audio: deviceId, video: deviceId }`).
 */
export async function captureDevices(choice = {}) {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: constraints("audio", choice.audio),
      video: constraints("video", choice.video),
    });
    return { stream, status: { camera: "ok", microphone: "ok" } };
  } catch {
    // Find out which one fails.
  }
  const stream = new MediaStream();
  const status = {};
  for (const kind of ["audio", "video"]) {
    try {
      stream.addTrack(await captureTrack(kind, choice[kind]));
      status[NAMES[kind]] = "ok";
    } catch (error) {
      status[NAMES[kind]] = deviceProblem(error);
    }
  }
  return { stream, status };
}

/** The microphones and cameras the browser lists (with names once a permission was given). */
export async function listDevices() {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  const usable = (kind) => all.filter((device) => device.kind === kind && device.deviceId);
  return { audio: usable("audioinput"), video: usable("videoinput") };
}

/** Report the microphone level of `stream` to `onLevel` (0..1) every 100 ms; returns the stop function. */
export function startMeter(stream, onLevel) {
  if (!onLevel || !stream.getAudioTracks().length) return () => {};
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
  return () => {
    clearInterval(timer);
    context.close();
  };
}

/**
 * Camera and microphone for the console: whichever works (`status` says which); throws (with
 * `status`) only when neither does.
 */
export async function openDevices(onLevel) {
  const { stream, status } = await captureDevices();
  if (!stream.getTracks().length) throw Object.assign(new Error("No camera or microphone"), { status });
  return { stream, status, stopMeter: startMeter(stream, onLevel) };
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
