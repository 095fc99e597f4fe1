// One WebRTC connection to the media server. Every participant talks only to the server.

const GATHER_WAIT_MS = 1500;

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

export class MediaSession {
  constructor(socket, { ice_servers: iceServers, ice_transport_policy: iceTransportPolicy }, localStream, onRemoteStream) {
    this.socket = socket;
    this.localStream = localStream;
    this.remoteStream = new MediaStream();
    this.onRemoteStream = onRemoteStream;
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy, bundlePolicy: "max-bundle" });
    this.pendingCandidates = [];
    this.answered = false;
    this.offerSent = false;
  }

  async start() {
    const pc = this.pc;
    for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    pc.addEventListener("track", (event) => {
      this.remoteStream.addTrack(event.track);
      this.onRemoteStream(this.remoteStream);
    });
    pc.addEventListener("icecandidate", (event) => {
      // Candidates found before the offer left travel inside it; later ones are trickled.
      if (!event.candidate || !this.offerSent) return;
      if (this.answered) this.sendCandidate(event.candidate);
      else this.pendingCandidates.push(event.candidate);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    this.offerSent = true;
    const reply = await this.socket.timeout(15000).emitWithAck("media:offer", {
      type: "offer",
      sdp: pc.localDescription.sdp,
    });
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    await pc.setRemoteDescription(reply.answer);
    this.answered = true;
    for (const candidate of this.pendingCandidates.splice(0)) this.sendCandidate(candidate);
  }

  sendCandidate(candidate) {
    const { candidate: text, sdpMid, sdpMLineIndex } = candidate.toJSON();
    this.socket.emit("media:candidate", { candidate: text, sdpMid, sdpMLineIndex });
  }

  setAudio(enabled) {
    for (const track of this.localStream.getAudioTracks()) track.enabled = enabled;
  }

  setVideo(enabled) {
    for (const track of this.localStream.getVideoTracks()) track.enabled = enabled;
  }

  close() {
    this.pc.close();
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
