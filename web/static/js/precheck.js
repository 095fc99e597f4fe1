// The pre-join check: how the link to our server looks, and whether to start with video.

const DOWNLOAD_BYTES = 256 * 1024;
const UPLOAD_BYTES = 128 * 1024;

async function timed(action) {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

/** Round trip (median of 5 pings, ms), download and upload estimates (kbit/s). */
export async function measureLink() {
  const rtts = [];
  for (let i = 0; i < 5; i += 1) {
    rtts.push(await timed(() => fetch("/api/network-check/ping", { cache: "no-store" }).then((r) => r.json())));
  }
  rtts.sort((a, b) => a - b);
  const rtt = rtts[2];
  const down = await timed(() =>
    fetch(`/api/network-check/download?bytes=${DOWNLOAD_BYTES}`, { cache: "no-store" }).then((r) => r.arrayBuffer()),
  );
  const payload = new Uint8Array(UPLOAD_BYTES);
  crypto.getRandomValues(payload.subarray(0, 65536));
  const up = await timed(() =>
    fetch("/api/network-check/upload", { method: "POST", body: payload, cache: "no-store" }).then((r) => r.json()),
  );
  const kbps = (bytes, ms) => Math.round((bytes * 8) / Math.max(ms - rtt, 1));
  return { rtt: Math.round(rtt), down: kbps(DOWNLOAD_BYTES, down), up: kbps(UPLOAD_BYTES, up) };
}

/** Video needs roughly 500 kbit/s each way and a round trip under 400 ms; otherwise audio only. */
export function recommend({ rtt, down, up }) {
  return down >= 500 && up >= 350 && rtt < 400 ? "video" : "audio";
}

/** A short tone through the speakers, so the patient knows they will hear the nurse. */
export async function playTone() {
  const context = new AudioContext();
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.frequency.value = 660;
  gain.gain.setValueAtTime(0.2, context.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 1);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start();
  oscillator.stop(context.currentTime + 1);
  oscillator.addEventListener("ended", () => context.close());
}
