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

/**
 * The call that is really possible: "video" or "audio" as the link allows when camera and
 * microphone work; "audio" without a camera; "video_only" without a microphone (the nurse sees
 * but does not hear the patient); "watch" with neither (they see and hear the nurse only).
 * `link` may be null (not measured).
 */
export function possibleCall(link, status) {
  const camera = status.camera === "ok";
  const microphone = status.microphone === "ok";
  if (!camera && !microphone) return "watch";
  if (!microphone) return "video_only";
  if (!camera) return "audio";
  return link ? recommend(link) : "video";
}

/** The i18n key that recommends `possibleCall`'s answer, saying why when a device is the reason. */
export function recommendationKey(call, status) {
  if (call === "audio" && status.camera !== "ok") return "check.recommend_no_camera";
  return { video: "check.recommend_video", audio: "check.recommend_audio", video_only: "check.recommend_no_microphone", watch: "check.recommend_watch" }[call];
}

/** The browser family, for instructions that name its own buttons. */
export function browserFamily(userAgent = navigator.userAgent) {
  if (/Firefox|FxiOS/.test(userAgent)) return "firefox";
  if (/Safari/.test(userAgent) && !/Chrome|Chromium|CriOS|Edg|OPR|SamsungBrowser/.test(userAgent)) return "safari";
  return "chromium";
}

/**
 * What to tell the patient about their devices (i18n keys): what failed, what that means for the
 * call, and how to fix it in this browser. Empty lists when both work.
 */
export function deviceAdvice(status) {
  const problems = [];
  for (const name of ["camera", "microphone"]) if (status[name] !== "ok") problems.push(`devices.${name}.${status[name]}`);
  const call = possibleCall(null, status);
  const consequence = problems.length ? `devices.consequence.${call}` : null;
  const states = [status.camera, status.microphone];
  const help = [];
  if (states.includes("blocked")) help.push(`devices.help.${browserFamily()}`);
  if (states.includes("missing") || states.includes("ended")) help.push("devices.help.missing");
  return { problems, consequence, help };
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
