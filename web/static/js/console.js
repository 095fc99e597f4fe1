// The nurse console: sign in, the day's queue, admit, the call, end.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { applyTranslations, formatTime, installLanguageSwitch, t, viewerTimeZone, zoneName } from "/static/js/i18n.js";
import { CallView } from "/static/js/call.js";
import { ChatPanel } from "/static/js/chat.js";
import { LobbyControls } from "/static/js/lobby.js";
import { MediaSession, openDevices, stopStream } from "/static/js/rtc.js";
import { callEnded as notesAfterCall, startNotes } from "/static/js/notes.js";
import { mountMessagesPanel } from "/static/js/messages.js";
import { mountQueuePanel } from "/static/js/queue.js";
import { requestJson as api } from "/static/js/http.js";
import { keepReconnecting } from "/static/js/retry.js";

const $ = (id) => document.getElementById(id);
let socket = null;
let me = null;
let active = null; // the consult this nurse hosts
let session = null;
let devices = null;
let call = null;
let lobby = null; // the host's lobby controls (lobby.js)
let unitQueue = null; // the unit's queue panel (queue.js)
let unitMessages = null; // the unit's messages to patients (messages.js)
let chat = null; // the chat with a waiting patient or the call (chat.js)
// The sign-in form's error, kept as {code, seconds} so a language switch renders it again.
const LOGIN_ERRORS = new Set(["auth_invalid", "rate_limited", "bad_payload", "payload_too_large", "network"]);
let loginError = null;

window.teleconsultaDebug = {
  peerConnection: () => session?.subscriber ?? null,
  publisher: () => session?.publisher ?? null,
  socket: () => socket,
};

function setStatus(key) {
  $("status").hidden = !key;
  $("status").textContent = key ? t(key) : "";
}

function setState(state) {
  document.body.dataset.state = state;
}

function showLogin(messageKey = null) {
  loginError = null;
  setState("login");
  $("login").hidden = false;
  $("workspace").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  setStatus(messageKey);
}

function showLoginError(code, seconds = null) {
  showLogin();
  loginError = { code: LOGIN_ERRORS.has(code) ? code : "generic", seconds };
  renderLoginError();
}

function renderLoginError() {
  if (!loginError || document.body.dataset.state !== "login") return;
  $("status").hidden = false;
  $("status").textContent = t(`login.error.${loginError.code}`).replace("{seconds}", loginError.seconds ?? "");
}

let confirmingDeny = null; // the consult whose "deny" waits for a second, deliberate click
let drawn = ""; // what the list shows now, so a refresh that changes nothing keeps focus and clicks
/**
 * How long a row's buttons wait after the list moved that row (a patient arrived above it, a row
 * above gained its buttons): a click aimed at the row that was there lands on this one, and
 * "Admitir" would take the wrong patient. Keyboard focus follows its patient, so that row is spared.
 */
const MOVED_ROW_SETTLE_MS = 600;

/** The consults the list shows (the unit's open ones and those this nurse hosts), kept by queue.js. */
const listed = () => unitQueue?.consults() ?? [];

/** The unit's patients, each once: those in the unit queue in its order (with their place and
 * connection), then the rest (booked, in a call) in the server's order. */
function patientRows() {
  const rows = listed().map((consult) => ({ consult, entry: unitQueue?.entry(consult.consult_id) }));
  const place = (row) => row.entry?.place ?? Number.MAX_SAFE_INTEGER;
  return rows.sort((a, b) => place(a) - place(b));
}

function statusKey({ consult, entry }) {
  if (consult.state !== "waiting" || !entry) return `status.${consult.state}`;
  return entry.absent ? "queue.absent" : entry.connected ? "queue.connected" : "queue.reconnecting";
}

function renderQueue() {
  const rows = patientRows();
  const labels = [...document.querySelectorAll("#queues .queue-table th")].map((th) => th.textContent);
  const lines = rows.map((row) => {
    const { consult, entry } = row;
    const arrived = entry?.checked_in_at ?? consult.checked_in_at;
    return {
      id: consult.consult_id,
      state: consult.state,
      cells: [
        entry ? String(entry.place) : "—",
        consult.patient_name,
        formatTime(consult.appointment_start),
        arrived ? formatTime(arrived) : "—",
        t(statusKey(row)),
      ],
      action:
        consult.state === "waiting" && !active
          ? confirmingDeny === consult.consult_id
            ? "confirm"
            : "admit"
          : consult.state === "live" && consult.host_id === me?.participant_id && !session
            ? "resume"
            : "",
    };
  });
  const waitingCount = listed().filter((consult) => consult.state === "waiting").length;
  const signature = JSON.stringify([lines, labels, waitingCount, viewerTimeZone()]);
  if (signature === drawn) return;
  drawn = signature;
  $("zone").textContent = zoneName(); // by its name in the page's language, never the bare IANA id
  $("queues-count").textContent = t("queue.count").replace("{n}", waitingCount);
  $("queue-empty").hidden = rows.length > 0;
  const focused = document.activeElement?.dataset?.action;
  const focusedRow = document.activeElement?.closest?.("tr")?.dataset?.consultId;
  const wasAt = new Map(
    [...$("queue-rows").rows].map((tr) => [tr.dataset.consultId, tr.getBoundingClientRect().top]),
  );
  $("queue-rows").replaceChildren(
    ...lines.map((line, index) => {
      const tr = document.createElement("tr");
      tr.dataset.consultId = line.id;
      tr.dataset.state = line.state;
      line.cells.forEach((text, column) => {
        const cell = document.createElement("td");
        cell.dataset.label = labels[column] ?? "";
        cell.textContent = text;
        tr.append(cell);
      });
      const action = document.createElement("td");
      action.dataset.label = labels[5] ?? "";
      action.className = "row-actions";
      action.append(...actions(line.action, rows[index].consult));
      tr.append(action);
      return tr;
    }),
  );
  // A redraw replaces the buttons: give keyboard focus back to the same one.
  if (focused && focusedRow) {
    $("queue-rows").querySelector(`tr[data-consult-id="${CSS.escape(focusedRow)}"] [data-action="${focused}"]`)?.focus();
  }
  if (wasAt.size > 0) holdMovedRows(wasAt, focusedRow);
}

const settlingUntil = new Map(); // consult id -> when its row's buttons may act again (performance.now())

/**
 * The buttons of rows that are new or moved since the last drawing wait `MOVED_ROW_SETTLE_MS`;
 * a drawing during that wait (a status changed) keeps them waiting until it ends.
 */
function holdMovedRows(wasAt, focusedRow) {
  const now = performance.now();
  const shown = new Set([...$("queue-rows").rows].map((tr) => tr.dataset.consultId));
  for (const id of settlingUntil.keys()) if (!shown.has(id)) settlingUntil.delete(id);
  for (const tr of $("queue-rows").rows) {
    const id = tr.dataset.consultId;
    const before = wasAt.get(id);
    const moved = before === undefined || Math.abs(before - tr.getBoundingClientRect().top) >= 1;
    if (id === focusedRow) settlingUntil.delete(id);
    else if (moved) settlingUntil.set(id, now + MOVED_ROW_SETTLE_MS);
    const until = settlingUntil.get(id);
    if (until === undefined) continue;
    if (until <= now) {
      settlingUntil.delete(id);
      continue;
    }
    const buttons = [...tr.querySelectorAll("button:not([disabled])")];
    for (const button of buttons) button.disabled = true;
    tr.dataset.settling = "true";
    setTimeout(() => {
      for (const button of buttons) button.disabled = false;
      delete tr.dataset.settling;
    }, until - now);
  }
}

/** A row's buttons. "Admitir" and "Denegar…" sit apart; denying asks again before it happens. */
function actions(kind, consult) {
  if (kind === "admit") {
    const ask = button("console.deny", () => {
      confirmingDeny = consult.consult_id;
      renderQueue();
      $("queue-rows").querySelector('[data-action="console.deny_no"]')?.focus();
    }, "deny-ask");
    const talk = button("chat.open", () => chat?.show(consult.consult_id), "chat-open");
    return [button("console.admit", () => admit(consult.consult_id), "primary"), talk, ask];
  }
  if (kind === "confirm") {
    const question = document.createElement("p");
    question.className = "deny-question";
    question.textContent = t("console.deny_confirm").replace("{name}", consult.patient_name);
    const deny = lobby ? lobby.denyButton(consult) : null;
    if (deny) {
      deny.textContent = t("console.deny_yes");
      deny.addEventListener("click", () => {
        confirmingDeny = null;
      });
    }
    const cancel = button("console.deny_no", () => {
      confirmingDeny = null;
      renderQueue();
    });
    const group = document.createElement("div");
    group.className = "deny-confirm";
    group.setAttribute("role", "group");
    group.append(question, ...(deny ? [deny] : []), cancel);
    return [group];
  }
  if (kind === "resume") return [button("console.resume", () => openCall(consult))];
  return [];
}

function button(key, onClick, className = "") {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.dataset.action = key;
  element.textContent = t(key);
  element.addEventListener("click", onClick);
  return element;
}

async function admit(consultId) {
  const reply = await socket.timeout(10000).emitWithAck("lobby:admit", { consult_id: consultId });
  if (!reply.ok) return setStatus(`error.${reply.error.code}`);
  setStatus(null);
  await openCall(reply.consult);
}

async function openCall(consult) {
  active = consult;
  setState("call");
  $("call").hidden = false;
  $("queues").open = false; // the call and the note own the screen; the list folds to one line
  $("call-patient").textContent = consult.patient_name;
  lobby?.render(consult);
  startNotes(consult.consult_id);
  chat?.show(consult.consult_id);
  renderQueue();
  try {
    devices ??= await openDevices();
  } catch {
    return setStatus("error.devices");
  }
  $("local").srcObject = devices.stream;
  const attempt = new MediaSession(socket, me, devices.stream, call.render, restartMedia);
  session = attempt;
  call.attach(attempt);
  try {
    await attempt.start();
    if (session !== attempt) return; // replaced meanwhile (the socket came back, media restarted)
    await call.applyPreferences();
  } catch (error) {
    if (attempt.closed || session !== attempt) return; // a newer attempt is in charge
    closeCall();
    setStatus(`error.${error.code ?? "generic"}`);
  }
}

/** Media failed or the socket came back: start both media connections again, same consult. */
function restartMedia() {
  if (!session || !active) return;
  const consult = active;
  session.close();
  session = null;
  setStatus("state.reconnecting");
  if (socket.connected) openCall(consult).then(() => setStatus(null));
  else active = consult;
}

function closeCall() {
  session?.close();
  session = null;
  stopStream(devices?.stream);
  devices = null;
  active = null;
  call?.detach();
  $("call").hidden = true;
  chat?.show(null);
  $("queues").open = true;
  notesAfterCall();
  setState("queue");
  renderQueue();
}

function connect() {
  socket = io({ transports: ["websocket", "polling"] });
  const retry = keepReconnecting(socket);
  call = new CallView(socket, () => ({ me, consult: active }));
  lobby = new LobbyControls(socket, () => ({ me, consult: active }), setStatus);
  chat = new ChatPanel($("chat"), {
    me: () => me,
    follow: true,
    photoUrl: (consultId, photoId) =>
      `/api/consults/${encodeURIComponent(consultId)}/photos/${encodeURIComponent(photoId)}`,
    keepPhoto: async (consultId, photoId) =>
      (await api("POST", `/api/consults/${encodeURIComponent(consultId)}/photos/${encodeURIComponent(photoId)}/keep`, { consent: true })).ok,
  });
  chat.bind(socket);
  socket.on("connect_error", (error) => {
    if (retry.retryable(error)) {
      setStatus("error.network");
    } else if (error.data?.code) {
      socket.disconnect();
      showLogin(`error.${error.data.code}`);
    } else {
      setStatus("error.network");
    }
  });
  socket.on("connect", async () => {
    const reply = await socket.timeout(10000).emitWithAck("hello", {});
    if (!reply.ok) return showLogin(`error.${reply.error.code}`);
    me = reply;
    unitQueue?.refresh(); // a snapshot at each (re)connection: changes may have been missed meanwhile
    setStatus(null);
    setState(session ? "call" : "queue");
    renderQueue();
    if (session) restartMedia();
  });
  socket.on("media:connection", ({ participant_id, state }) => {
    if (participant_id === me?.participant_id && state === "failed") restartMedia();
  });
  // The consult's media moved to another media server: connect the media there, same consult.
  socket.on("media:restart", () => restartMedia());
  socket.on("disconnect", () => {
    if (session) setStatus("state.reconnecting");
  });
  socket.on("queue:diff", (diff) => unitQueue?.apply(diff));
  socket.on("consult:state", ({ consult }) => {
    if (active?.consult_id === consult.consult_id) active = consult;
  });
  socket.on("consult:ended", ({ consult_id, reason }) => {
    unitQueue?.forget(consult_id);
    if (active?.consult_id === consult_id) {
      closeCall();
      setStatus("console.ended");
      // Ended by her own "end" button: that handler puts her back on duty once the server is done.
      if (reason !== "ended_by_host") unitQueue?.afterCall();
    }
  });
  socket.on("session:replaced", () => {
    closeCall();
    socket.disconnect();
    setStatus("replaced.body");
  });
}

async function startWorkspace(staff) {
  if (staff.role === "supervisor") return location.assign("/supervision"); // hosts nothing: the dashboard is theirs
  $("login").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = staff.full_name;
  setState("queue");
  connect();
  unitQueue?.stop();
  unitQueue = mountQueuePanel(staff, {
    admit,
    onStatus: setStatus,
    onChange: renderQueue,
    inCall: () => Boolean(active),
  });
  unitMessages?.stop();
  unitMessages = mountMessagesPanel(staff, { onStatus: setStatus });
}

function wireControls() {
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const credentials = { username: $("username").value, password: $("password").value };
    $("password").value = "";
    let reply;
    try {
      reply = await api("POST", "/api/session", credentials);
    } catch {
      return showLoginError("network");
    }
    if (!reply.ok) return showLoginError(reply.data.error?.code, reply.data.error?.retry_after);
    loginError = null;
    setStatus(null);
    startWorkspace(reply.data);
  });
  $("sign-out").addEventListener("click", async () => {
    unitQueue?.stop();
    unitQueue = null;
    unitMessages?.stop();
    unitMessages = null;
    closeCall();
    socket?.disconnect();
    await api("DELETE", "/api/session");
    showLogin();
  });
  $("invite").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reply = await socket.timeout(10000).emitWithAck("consult:invite", {
      role: $("invite-role").value,
      name: $("invite-name").value.trim(),
    });
    if (!reply.ok) return setStatus(`error.${reply.error.code}`);
    $("invite-link").value = `${location.origin}/paciente#t=${reply.token}`;
    $("invite-link").select();
  });
  $("end").addEventListener("click", async () => {
    if (!active) return;
    const reply = await socket.timeout(10000).emitWithAck("consult:end", { consult_id: active.consult_id });
    if (!reply.ok) return setStatus(`error.${reply.error.code}`);
    closeCall();
    setStatus("console.ended");
    await unitQueue?.afterCall(); // the call is over: available for the next patient
  });
}

applyTranslations();
installLanguageSwitch($("lang"), () => {
  chat?.relabel();
  renderQueue();
  unitQueue?.refresh();
  unitMessages?.render();
  renderLoginError();
});
wireControls();
const session0 = await api("GET", "/api/session");
if (session0.ok && session0.data.signed_in) startWorkspace(session0.data);
else showLogin();
