// The patient's page: device check and consent, waiting room, call, end.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { applyTranslations, formatDateTime, installLanguageSwitch, t, viewerTimeZone } from "/static/js/i18n.js";
import { CallView } from "/static/js/call.js";
import { measureLink, playTone, recommend } from "/static/js/precheck.js";
import { MediaSession, openDevices, stopStream } from "/static/js/rtc.js";

const $ = (id) => document.getElementById(id);
const SCREENS = ["check", "waiting", "call", "left", "ended"];
const token = new URLSearchParams(location.hash.slice(1)).get("t");
history.replaceState(null, "", location.pathname + location.hash); // keep the link for reloads only

let socket = null;
let devices = null;
let session = null;
let consult = null;
let me = null;
let call = null;
let consented = false;

window.teleconsultaDebug = {
  peerConnection: () => session?.subscriber ?? null,
  publisher: () => session?.publisher ?? null,
  socket: () => socket,
};

function show(screen, statusKey = null) {
  document.body.dataset.state = screen;
  for (const id of SCREENS) $(id).hidden = id !== screen;
  $("status").hidden = !statusKey;
  if (statusKey) {
    $("status").dataset.i18n = statusKey;
    $("status").textContent = t(statusKey);
  }
}

function showError(code) {
  const key = `error.${code}`;
  show("none", t(key) === key ? "error.generic" : key);
  document.body.dataset.state = "error";
  document.body.dataset.error = code;
}

function renderAppointment() {
  if (!consult) return;
  const when = formatDateTime(consult.appointment_start);
  $("appointment-time").textContent = when;
  $("appointment-zone").textContent = `(${viewerTimeZone()})`;
  for (const element of document.querySelectorAll(".appointment-time")) element.textContent = when;
}

async function checkNetwork() {
  try {
    const link = await measureLink();
    const advice = recommend(link);
    document.body.dataset.recommendation = advice;
    $("network").textContent = t("check.network_result")
      .replace("{rtt}", link.rtt)
      .replace("{down}", (link.down / 1000).toFixed(1))
      .replace("{up}", (link.up / 1000).toFixed(1))
      .concat(" ", t(advice === "video" ? "check.recommend_video" : "check.recommend_audio"));
    $("start-audio-only").checked = advice === "audio";
  } catch {
    $("network").textContent = t("check.network_failed");
  }
}

async function prepareDevices() {
  try {
    devices = await openDevices((level) => ($("mic-level").value = level));
    $("preview").srcObject = devices.stream;
  } catch {
    show("check", "error.devices");
  }
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

async function joinCall() {
  if (session || !devices) return;
  show("call");
  $("local").srcObject = devices.stream;
  session = new MediaSession(socket, me, devices.stream, call.render, restartMedia);
  call.attach(session);
  try {
    await session.start();
    reconnecting(false);
    await call.applyPreferences();
    if ($("start-audio-only").checked) {
      $("start-audio-only").checked = false; // a choice for the start: after a reconnection the call's own choice holds
      await call.setAudioOnly(true);
    }
  } catch (error) {
    session?.close();
    session = null;
    showError(error.code ?? "generic");
  }
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
  if (consult.state === "live" && consented && !session && document.body.dataset.state !== "left") joinCall();
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
  call = new CallView(socket, () => ({ me, consult }));
  socket.on("connect_error", (error) => {
    if (error.data?.code) {
      socket.disconnect();
      showError(error.data.code);
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
    renderAppointment();
    if (!consented) {
      if (document.body.dataset.state === "connecting") show("check");
    } else if (consult.state === "live") {
      if (session) {
        // The socket came back by itself: publish again on it.
        leaveCall();
        joinCall();
      } else if (document.body.dataset.state !== "left") joinCall();
    } else show("waiting");
  });
  socket.on("disconnect", () => {
    if (session) reconnecting(true);
  });
  socket.on("consult:state", ({ consult: next }) => onConsult(next));
  socket.on("consult:ended", finish);
  socket.on("media:connection", ({ participant_id, state }) => {
    // The server lost this page's media (e.g. a media worker restarted): connect it again.
    if (participant_id === me?.participant_id && state === "failed") restartMedia();
  });
  socket.on("session:replaced", () => {
    leaveCall();
    socket.disconnect();
    show("none", "replaced.body");
  });
}

function wireControls() {
  $("consent").addEventListener("change", () => ($("enter").disabled = !$("consent").checked));
  $("speaker-test").addEventListener("click", () => playTone());
  $("enter").addEventListener("click", async () => {
    $("enter").disabled = true;
    consented = true;
    if (!isPatient()) {
      // Invitees wait for the host to open the call, then join it directly.
      if (consult.state === "live") joinCall();
      else show("waiting");
      return;
    }
    const reply = await socket.timeout(10000).emitWithAck("lobby:check_in", { consent: true });
    if (!reply.ok) return showError(reply.error.code);
    onConsult(reply.consult);
    if (reply.consult.state === "waiting") show("waiting");
  });
  $("hang-up").addEventListener("click", async () => {
    leaveCall();
    show("left");
    await socket.timeout(5000).emitWithAck("consult:leave", {});
  });
  $("rejoin").addEventListener("click", () => {
    show("call");
    joinCall();
  });
}

applyTranslations();
installLanguageSwitch($("lang"), renderAppointment);
wireControls();
if (!token) {
  showError("auth_invalid");
} else {
  prepareDevices();
  checkNetwork();
  connect();
}
