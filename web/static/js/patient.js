// The patient's page: device check and consent, waiting room, call, end.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { applyTranslations, formatDateTime, installLanguageSwitch, t, zoneName } from "/static/js/i18n.js";
import { CallView } from "/static/js/call.js";
import { ChatPanel, watchInboundAudio } from "/static/js/chat.js";
import { deviceAdvice, measureLink, playTone, possibleCall, recommend, recommendationKey } from "/static/js/precheck.js";
import { keepReconnecting } from "/static/js/retry.js";
import { MediaSession, captureDevices, captureTrack, listDevices, startMeter, stopStream } from "/static/js/rtc.js";

const $ = (id) => document.getElementById(id);
const SCREENS = ["check", "waiting", "call", "left", "replaced", "ended"];
const KINDS = { microphone: "audio", camera: "video" };
const token = new URLSearchParams(location.hash.slice(1)).get("t");
history.replaceState(null, "", location.pathname + location.hash); // keep the link for reloads only
document.getElementById("summary-link").href = `/resumen${location.hash}`; // the token stays in the fragment

let socket = null;
/** `{ stream, status: { camera, microphone }, stopMeter }` once checked; `ready` resolves then. */
let devices = null;
let ready = null;
const chosen = { audio: null, video: null }; // the devices picked on the check screen (ids)
let link = null; // the measured link to our server, once known
let audioOnlyChosen = false; // the patient set "start with audio only" themselves: no recommendation overrides it
let reported = null; // the last `participant:devices` sent on this connection
let session = null;
let consult = null;
let me = null;
let call = null;
let consented = false;
let retry = null; // reconnection after a retryable refusal (retry.js)
let checkInAgain = false; // a draining node refused the check-in: check in on the next connection
let lockedOut = false; // the room was locked when this page tried to join: wait for it to open
let chat = null; // the consult's chat (chat.js): in the waiting room and in the call

window.teleconsultaDebug = {
  peerConnection: () => session?.subscriber ?? null,
  publisher: () => session?.publisher ?? null,
  socket: () => socket,
};

function show(screen, statusKey = null) {
  // A place in the queue is only true while waiting: never show an old one on a later wait.
  if (screen !== "waiting") clearPosition();
  document.body.dataset.state = screen;
  for (const id of SCREENS) $(id).hidden = id !== screen;
  followChat(screen);
  $("status").hidden = !statusKey;
  if (statusKey) {
    $("status").dataset.i18n = statusKey;
    $("status").textContent = t(statusKey);
  }
}

/** The chat shows while the patient waits and in the call (an invitee's, in the call only). */
function followChat(screen) {
  if (!chat) return;
  $("chat").hidden = !(screen === "call" || (screen === "waiting" && isPatient()));
  if (!$("chat").hidden) chat.show(consult?.consult_id ?? null);
}

/** A photo from the phone's camera, to the consult (POST, the link's token as a bearer). */
async function uploadPhoto(consultId, file) {
  const response = await fetch(`/api/consults/${encodeURIComponent(consultId)}/photos`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, message: data.message, code: data.error?.code ?? (response.status === 413 ? "photo_too_large" : null) };
}

function showError(code) {
  const key = `error.${code}`;
  show("none", t(key) === key ? "error.generic" : key);
  document.body.dataset.state = "error";
  document.body.dataset.error = code;
}

const NOT_OPEN = ["outside_service_hours", "check_in_not_open"];
const POSITION_MS = 5000;
const RETRY_JOIN_MS = 2000;
// Joining failed for a reason that passes (media busy, a race): the page tries again. So it does for
// errors without one of our codes (a timeout, a browser exception from a connection being replaced).
const TRANSIENT_JOIN_ERRORS = new Set(["media_unavailable", "internal", "conflict", "rate_limited"]);

/** Check-in refused: closed service or too early keep the check screen, with the opening time. */
function refusedCheckIn(error) {
  if (error.code === "draining") {
    // This node is closing: connect again (the load balancer picks a serving node) and check in there.
    checkInAgain = true;
    socket.disconnect();
    retry.later(error.retry_after_s);
    return;
  }
  if (!NOT_OPEN.includes(error.code)) return showError(error.code);
  consented = false;
  show("check");
  reportDevices();
  document.body.dataset.error = error.code;
  const key = error.opens_at ? `error.${error.code}` : "error.outside_service_hours_unknown";
  const when = error.opens_at ? `${formatDateTime(error.opens_at)} (${zoneName()})` : "";
  $("status").hidden = false;
  $("status").textContent = t(key).replace("{time}", when);
  $("enter").disabled = !$("consent").checked;
}

/** The appointment's status and whether checking in would be refused now (null when unknown). */
async function appointmentStatus() {
  if (!token) return null;
  const response = await fetch("/api/queue/position", { headers: { Authorization: `Bearer ${token}` } });
  return response.ok ? response.json().catch(() => null) : null;
}

/** The appointment was cancelled by the unit: say so plainly and stop. */
function appointmentCancelled() {
  leaveCall();
  devices?.stopMeter();
  stopStream(devices?.stream);
  socket?.disconnect();
  show("none", "cancelled.body");
  document.body.dataset.state = "cancelled";
}

/** The consult ended without a call (cancelled, no-show) or the link is refused: tell the patient why. */
async function explainClosed(code) {
  const status = await appointmentStatus().catch(() => null);
  if (status?.status === "cancelled") return appointmentCancelled();
  if (status?.status === "no_show") return showError("check_in_closed");
  showError(code);
}

/** Before the patient checks in: if the service is closed or it is too early, say so at once. */
async function previewCheckIn() {
  const status = await appointmentStatus().catch(() => null);
  if (status?.status === "cancelled") return appointmentCancelled();
  const refusal = status?.check_in;
  if (refusal && NOT_OPEN.includes(refusal.code) && document.body.dataset.state === "check") refusedCheckIn(refusal);
}

function clearPosition() {
  $("queue-position").textContent = "";
  $("queue-wait").textContent = "";
}

/** The waiting room's place and honest expected wait (GET /api/queue/position, token in a header). */
async function updatePosition() {
  if (document.body.dataset.state !== "waiting" || !isPatient()) return;
  const response = await fetch("/api/queue/position", { headers: { Authorization: `Bearer ${token}` } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || !data.waiting) return clearPosition();
  $("queue-position").dataset.place = data.place;
  $("queue-position").textContent = t("waiting.position").replace("{place}", data.place);
  let wait = t("waiting.no_nurse");
  if (data.expected_wait_minutes === 0) wait = t("waiting.expected_now");
  else if (data.expected_wait_minutes !== null) {
    const range = data.expected_wait_low_minutes !== data.expected_wait_high_minutes;
    wait = t(range ? "waiting.expected" : "waiting.expected_about")
      .replace("{min}", data.expected_wait_minutes)
      .replace("{low}", data.expected_wait_low_minutes)
      .replace("{high}", data.expected_wait_high_minutes);
  }
  // Who is on duty, truthfully: nobody, nurses all with someone, or a nurse free right now.
  const duty = !data.nurses_on_duty ? "none" : data.nurses_available > 0 ? "available" : "busy";
  if (duty === "available" && data.expected_wait_minutes === 0) wait = t("waiting.duty_available_now");
  else if (duty !== "none") wait = `${t(`waiting.duty_${duty}`)} ${wait}`;
  $("queue-wait").dataset.duty = duty;
  $("queue-wait").dataset.minutes = data.expected_wait_minutes ?? "";
  $("queue-wait").textContent = wait;
}

function renderAppointment() {
  if (!consult) return;
  const when = formatDateTime(consult.appointment_start);
  $("appointment-time").textContent = when;
  for (const element of document.querySelectorAll(".appointment-time")) element.textContent = when;
  // The zone wherever the time shows: the waiting room's time is read after the check's.
  for (const element of document.querySelectorAll(".appointment-zone")) element.textContent = `(${zoneName()})`;
}

async function checkNetwork() {
  try {
    link = await measureLink();
    // A weak link suggests starting with audio only (a choice only with a camera; the patient may
    // change it). A measurement that ends after the patient chose leaves their choice alone.
    if (!audioOnlyChosen) {
      $("start-audio-only").checked = recommend(link) === "audio" && (devices?.status.camera ?? "ok") === "ok";
    }
  } catch {
    link = "failed";
  }
  renderAdvice();
}

/** The link's figures and the call that is really possible with it and with the devices that work. */
function renderAdvice() {
  if (!link) return;
  const measured = link !== "failed";
  const status = devices?.status ?? { camera: "ok", microphone: "ok" };
  const advice = possibleCall(measured ? link : null, status);
  const figures = measured
    ? t("check.network_result")
        .replace("{rtt}", link.rtt)
        .replace("{down}", (link.down / 1000).toFixed(1))
        .replace("{up}", (link.up / 1000).toFixed(1))
    : t("check.network_failed");
  const known = measured || devices;
  document.body.dataset.recommendation = known ? advice : "";
  $("network").textContent = known ? `${figures} ${t(recommendationKey(advice, status))}` : figures;
}

/**
 * Open the camera and the microphone, each as far as it works, and show what works, what does
 * not and how to fix it. Whatever works is enough to join; nothing at all still lets the patient
 * watch and listen.
 */
function prepareDevices() {
  ready = (async () => {
    const { stream, status } = await captureDevices(chosen);
    releaseDevices();
    devices = { stream, status, stopMeter: () => {} };
    for (const track of stream.getTracks()) watchTrack(track);
    devicesChanged();
  })();
  return ready;
}

function releaseDevices() {
  devices?.stopMeter();
  stopStream(devices?.stream);
  devices = null;
}

/** Everything that follows the devices: previews, meter, messages, buttons, the nurse's tile. */
function devicesChanged() {
  const { stream, status } = devices;
  devices.stopMeter();
  devices.stopMeter = startMeter(stream, (level) => ($("mic-level").value = level));
  for (const id of ["preview", "local"]) {
    $(id).srcObject = null;
    $(id).srcObject = stream;
  }
  const camera = status.camera === "ok";
  $("preview-empty").hidden = camera;
  $("local").hidden = !camera;
  $("audio-only-choice").hidden = !camera;
  if (!camera) $("start-audio-only").checked = false;
  call.setAvailable({ camera, microphone: status.microphone === "ok" });
  fillPickers();
  renderDevices();
  renderAdvice();
  reportDevices();
}

/** The device messages on the check screen and in the call, in the page's language. */
function renderDevices() {
  if (!devices) return;
  const { problems, consequence, help } = deviceAdvice(devices.status);
  const ok = problems.length === 0;
  const text = ok ? t("devices.ok") : [...problems, consequence].map((key) => t(key)).join(" ");
  const helpText = help.map((key) => t(key)).join(" ");
  $("devices").dataset.state = ok ? "ok" : possibleCall(null, devices.status);
  $("devices-state").removeAttribute("data-i18n");
  $("devices-state").textContent = text;
  $("devices-help").hidden = !helpText;
  $("devices-help").textContent = helpText;
  $("devices-retry").hidden = ok;
  $("call-devices").hidden = ok;
  $("call-devices").dataset.state = $("devices").dataset.state;
  $("call-devices-text").textContent = ok ? "" : [...problems, `call.devices.${possibleCall(null, devices.status)}`].map((key) => t(key)).join(" ");
  $("call-devices-help").hidden = !helpText;
  $("call-devices-help").textContent = helpText;
}

/**
 * The camera and microphone pickers, and the in-call camera switch when there is another camera.
 * Until the devices answer, the pickers keep their space unseen (see styles.css); one that cannot
 * be used then goes, beside the device message that grows at the same moment.
 */
async function fillPickers() {
  const found = await listDevices().catch(() => ({ audio: [], video: [] }));
  for (const [name, kind, select, picker] of [
    ["microphone", "audio", "mic-select", "mic-picker"],
    ["camera", "video", "camera-select", "camera-picker"],
  ]) {
    const current = devices?.stream.getTracks().find((track) => track.kind === kind)?.getSettings().deviceId;
    const options = found[kind].map((device, index) => {
      const option = new Option(device.label || `${t(`check.${name}`)} ${index + 1}`, device.deviceId);
      option.selected = device.deviceId === current;
      return option;
    });
    $(select).replaceChildren(...options);
    $(picker).classList.remove("until-devices-answer");
    $(picker).hidden = devices?.status[name] !== "ok" || options.length === 0;
  }
  $("switch-camera").hidden = devices?.status.camera !== "ok" || found.video.length < 2;
}

function watchTrack(track) {
  track.addEventListener("ended", () => deviceLost(track));
}

/**
 * A device stopped under the page (unplugged, its permission withdrawn: browsers often stop both
 * devices then): open that kind again (another microphone, or the same one if only the camera's
 * permission went), else say it stopped. The call goes on with what works.
 */
async function deviceLost(track) {
  if (!devices?.stream.getTracks().includes(track)) return; // replaced or released by the page
  devices.stream.removeTrack(track);
  const name = track.kind === "audio" ? "microphone" : "camera";
  let next = null;
  try {
    next = await captureTrack(track.kind, chosen[track.kind]);
  } catch {
    devices.status[name] = "ended";
  }
  if (next) {
    devices.stream.addTrack(next);
    watchTrack(next);
    devices.status[name] = "ok";
  }
  await useInCall(track.kind, next);
  devicesChanged();
}

/** The call's sender takes a new track (or none); a session that never sent that kind starts again. */
async function useInCall(kind, track) {
  if (!session) return;
  if (track) track.enabled = kind === "audio" ? call.audioOn : call.videoOn;
  const used = await session.useTrack(kind, track).catch(() => false);
  if (!used) {
    leaveCall();
    joinCall();
  }
}

/** The patient picked another camera or microphone (or switched cameras in the call). */
async function useDevice(kind, deviceId) {
  if (!devices) return;
  const name = kind === "audio" ? "microphone" : "camera";
  const [old] = devices.stream.getTracks().filter((track) => track.kind === kind);
  // A phone cannot open its second camera while the first is open: let go of it first.
  if (old) {
    devices.stream.removeTrack(old);
    old.stop();
  }
  let track = null;
  try {
    track = await captureTrack(kind, deviceId);
    chosen[kind] = deviceId;
  } catch {
    track = await captureTrack(kind, chosen[kind]).catch(() => null);
    if (!track) devices.status[name] = "ended";
  }
  if (track) {
    devices.stream.addTrack(track);
    watchTrack(track);
  }
  await useInCall(kind, track);
  devicesChanged();
}

/** The next camera in the browser's list (a phone's front and back cameras). */
async function switchCamera() {
  const { video } = await listDevices();
  const current = devices?.stream.getVideoTracks()[0]?.getSettings().deviceId;
  const at = video.findIndex((device) => device.deviceId === current);
  const next = video[(at + 1) % video.length];
  if (next && next.deviceId !== current) await useDevice("video", next.deviceId);
}

/** "Try again" after the patient allowed a device or plugged one in: a call starts its media again. */
async function retryDevices() {
  const before = devices?.stream.getTracks().length ?? 0;
  await prepareDevices();
  if (session && devices.stream.getTracks().length !== before) {
    leaveCall();
    joinCall();
  } else if (session) {
    for (const kind of ["audio", "video"]) await useInCall(kind, devices.stream.getTracks().find((t) => t.kind === kind) ?? null);
  }
}

/** Where this page is and what works, for the nurse's tile (`participant:devices`). */
function reportDevices() {
  if (!devices || !socket?.connected || !me) return;
  const state = document.body.dataset.state;
  const stage = state === "call" && session && !session.closed ? "in_call" : consented ? "waiting" : "checking";
  const report = { stage, ...devices.status };
  if (report.camera === "ok" && (!call.videoOn || call.audioOnly)) report.camera = "off";
  if (report.microphone === "ok" && !call.audioOn) report.microphone = "off";
  const text = JSON.stringify(report);
  if (text === reported) return;
  reported = text;
  socket.emit("participant:devices", report);
}

function reconnecting(on) {
  document.body.dataset.connection = on ? "reconnecting" : "ok";
  $("status").hidden = !on;
  if (on) $("status").textContent = t("state.reconnecting");
}

/** Media failed or the socket came back: start both media connections again, same room, same role. */
function restartMedia() {
  if (!session) return;
  leaveCall();
  reconnecting(true);
  // A media path that failed usually means the network changed under us; the signaling socket
  // may be just as dead without knowing it yet, so open it again too. Its "connect" rejoins.
  socket.io.engine?.close();
}

/** Wait in the waiting room: sent back by the host, or the room is locked (`reason`). */
function waitInLobby(reason) {
  leaveCall();
  show("waiting", `lobby.${reason}`);
  document.body.dataset.lobby = reason;
  reportDevices();
}

/** The host denied this person (or withdrew their invitation): say so and stop. */
function turnedAway(reason) {
  leaveCall();
  devices?.stopMeter();
  stopStream(devices?.stream);
  socket?.disconnect();
  show("none", reason === "revoked" ? "lobby.revoked" : "lobby.denied");
  document.body.dataset.state = "denied";
}

const inLobby = () => Boolean(me && consult?.lobby?.includes(me.participant_id));

let joining = false;

async function joinCall() {
  if (session || joining) return;
  joining = true;
  try {
    await ready; // the devices are checked first: whatever works is what the call sends
  } finally {
    joining = false;
  }
  if (session || !devices || !socket?.connected || document.body.dataset.state === "left") return;
  delete document.body.dataset.lobby;
  show("call");
  const attempt = new MediaSession(socket, me, devices.stream, call.render, restartMedia);
  session = attempt;
  call.attach(attempt);
  try {
    await attempt.start();
    if (session !== attempt) return; // replaced meanwhile (the socket came back, media restarted)
    reconnecting(false);
    reportDevices();
    await call.applyPreferences();
    if ($("start-audio-only").checked) {
      $("start-audio-only").checked = false; // a choice for the start: after a reconnection the call's own choice holds
      await call.setAudioOnly(true);
    }
  } catch (error) {
    // Closed under us by a newer attempt (a reconnection): that attempt is in charge, not this error.
    if (attempt.closed || session !== attempt) return;
    attempt.close();
    session = null;
    if (error.code === "room_locked") {
      lockedOut = true;
      waitInLobby("locked");
    } else if (error.code === "invalid_state" && inLobby()) waitInLobby("sent_back");
    else if (error.code === "denied") turnedAway("denied");
    else if (typeof error.code !== "string" || TRANSIENT_JOIN_ERRORS.has(error.code)) retryJoin();
    else showError(error.code ?? "generic");
  }
}

/** A network still settling (a timeout, media not ready): try again shortly, never a dead end. */
function retryJoin() {
  reconnecting(true);
  setTimeout(() => {
    const inCall = document.body.dataset.state === "call";
    if (!session && inCall && socket?.connected && consult?.state === "live") joinCall();
  }, RETRY_JOIN_MS);
}

function leaveCall() {
  session?.close();
  session = null;
  call?.detach();
}

const isPatient = () => me?.role === "patient";

function onConsult(next) {
  consult = next;
  renderAppointment();
  if (!consult.locked) lockedOut = false;
  if (inLobby()) {
    if (session || document.body.dataset.state === "call") waitInLobby("sent_back");
    return;
  }
  if (consult.state === "live" && consented && !session && !lockedOut && document.body.dataset.state !== "left")
    joinCall();
}

async function checkIn() {
  const reply = await socket.timeout(10000).emitWithAck("lobby:check_in", { consent: true });
  if (!reply.ok) return refusedCheckIn(reply.error);
  onConsult(reply.consult);
  if (reply.consult.state === "waiting") show("waiting");
  updatePosition();
}

function finish() {
  leaveCall();
  devices?.stopMeter();
  stopStream(devices?.stream);
  socket?.disconnect();
  show("ended");
}

function connect() {
  socket = io({ auth: { token }, transports: ["websocket", "polling"] });
  retry = keepReconnecting(socket);
  call = new CallView(socket, () => ({ me, consult }), { onChange: () => reportDevices() });
  chat.bind(socket);
  socket.on("connect_error", (error) => {
    if (retry.retryable(error)) {
      show(document.body.dataset.state, "error.network");
    } else if (error.data?.code) {
      socket.disconnect();
      if (["auth_revoked", "consult_ended"].includes(error.data.code)) explainClosed(error.data.code);
      else showError(error.data.code);
    } else {
      show(document.body.dataset.state, "error.network");
    }
  });
  socket.on("connect", async () => {
    const reply = await socket.timeout(10000).emitWithAck("hello", {});
    if (!reply.ok) return showError(reply.error.code);
    me = reply;
    $("status").hidden = true;
    consult = reply.consult;
    // A patient who already checked in gave consent then; an invitee gives it on this page.
    if (isPatient() && consult.state !== "scheduled") consented = true;
    $("chat-photo").closest("label").hidden = !isPatient();
    reported = null; // a new connection (maybe on another node): say again where this page is
    reportDevices();
    renderAppointment();
    if (checkInAgain && isPatient() && consult.state === "scheduled") {
      checkInAgain = false;
      return checkIn();
    }
    if (!consented) {
      if (document.body.dataset.state === "connecting") {
        show("check");
        if (isPatient()) previewCheckIn();
      }
    } else if (consult.state === "live" && inLobby()) {
      waitInLobby("sent_back");
    } else if (consult.state === "live") {
      if (session) {
        // The socket came back by itself: publish again on it.
        leaveCall();
        joinCall();
      } else if (document.body.dataset.state !== "left") joinCall();
    } else {
      show("waiting");
      updatePosition();
    }
  });
  socket.on("disconnect", () => {
    if (session) reconnecting(true);
  });
  socket.on("consult:state", ({ consult: next }) => onConsult(next));
  socket.on("consult:ended", ({ reason } = {}) => {
    if (reason === "appointment_cancelled") appointmentCancelled();
    else if (reason === "no_show") {
      finish();
      showError("check_in_closed");
    } else finish();
  });
  // The service closed before a nurse was free: back to the check screen, with the next opening.
  socket.on("lobby:closed", (notice) => refusedCheckIn(notice));
  socket.on("lobby:sent_back", () => waitInLobby("sent_back"));
  socket.on("lobby:denied", ({ reason }) => turnedAway(reason));
  socket.on("media:connection", ({ participant_id, state }) => {
    // The server lost this page's media (e.g. a media worker restarted): connect it again.
    if (participant_id === me?.participant_id && state === "failed") restartMedia();
  });
  // The consult's media moved to another media server (its own stopped): connect the media there;
  // the socket is fine, and the call, its admission and its place are untouched.
  socket.on("media:restart", () => {
    if (!session) return;
    leaveCall();
    reconnecting(true);
    joinCall();
  });
  // The same link opened in another tab or device took over: this one lets go of its camera and
  // microphone and offers to take the consult back.
  socket.on("session:replaced", () => {
    leaveCall();
    socket.disconnect();
    releaseDevices();
    ready = null;
    show("replaced");
  });
}

/** "Use this window": this tab connects again and the other one is replaced in turn. */
function useThisWindow() {
  show("connecting", "state.connecting");
  prepareDevices();
  socket.connect();
}

function wireControls() {
  $("consent").addEventListener("change", () => ($("enter").disabled = !$("consent").checked));
  $("start-audio-only").addEventListener("change", () => (audioOnlyChosen = true));
  $("devices-retry").addEventListener("click", () => retryDevices());
  $("call-devices-retry").addEventListener("click", () => retryDevices());
  $("mic-select").addEventListener("change", () => useDevice("audio", $("mic-select").value));
  $("camera-select").addEventListener("change", () => useDevice("video", $("camera-select").value));
  $("switch-camera").addEventListener("click", () => switchCamera());
  $("use-here").addEventListener("click", () => useThisWindow());
  // A camera or microphone plugged in or out: the pickers follow ("try again" uses a new one).
  navigator.mediaDevices?.addEventListener?.("devicechange", () => devices && fillPickers());
  $("speaker-test").addEventListener("click", () => playTone());
  $("enter").addEventListener("click", async () => {
    $("enter").disabled = true;
    consented = true;
    reportDevices();
    if (!isPatient()) {
      // Invitees wait for the host to open the call, then join it directly.
      if (consult.state === "live") joinCall();
      else show("waiting");
      return;
    }
    await checkIn();
  });
  $("hang-up").addEventListener("click", async () => {
    leaveCall();
    show("left");
    await socket.timeout(5000).emitWithAck("consult:leave", {});
  });
  // "No le escucho": the chat opens at once, and the others read that the patient cannot hear.
  $("cant-hear").addEventListener("click", () => {
    chat.offerChat("chat.offer_cant_hear");
    chat.say("chat.cant_hear_message");
  });
  $("rejoin").addEventListener("click", () => {
    show("call");
    joinCall();
  });
}

applyTranslations();
installLanguageSwitch($("lang"), () => {
  chat?.relabel();
  renderAppointment();
  renderDevices();
  renderAdvice();
});
chat = new ChatPanel($("chat"), { me: () => me, photos: { upload: uploadPhoto } });
// No audio reaches this page for a while: offer the chat at once.
watchInboundAudio(
  () => (document.body.dataset.state === "call" ? (session?.subscriber ?? null) : null),
  () => chat.offerChat("chat.offer_no_audio"),
);
wireControls();
if (!token) {
  showError("auth_invalid");
} else {
  connect();
  prepareDevices();
  checkNetwork();
  setInterval(() => updatePosition().catch(() => {}), POSITION_MS);
}
