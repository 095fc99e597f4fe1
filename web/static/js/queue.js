// The nurse's place in her unit's queue: her state (and the start-of-shift prompt), "next patient",
// and who waits where (place, arrival, connection) for the console's one list of patients.
import { t } from "/static/js/i18n.js";
import { requestJson as call } from "/static/js/http.js";

const REFRESH_MS = 4000;

/**
 * Mount the panel for `staff` (from GET /api/session). `admit(consultId)` is the console's own
 * admission (the socket's lobby:admit), so the call opens exactly as when admitting from the list.
 * `onStatus(key)` shows a message (an i18n key). `onChange()` is called after every refresh, so the console redraws its list with the queue's
 * places; `inCall()` says whether this console is in a call (no "next patient" then).
 */
export function mountQueuePanel(staff, { admit, onStatus, onChange, inCall }) {
  const $ = (id) => document.getElementById(id);
  const unit = encodeURIComponent(staff.unit);
  let state = "away";
  let waiting = new Map(); // consult id -> the unit queue's entry (place, checked_in_at, connected, absent)
  let timer = null;
  let prompted = false; // the start-of-shift prompt is offered once per sign-in

  function render() {
    $("nurse-state").dataset.state = state;
    $("nurse-state").textContent = t(`nurse.${state}`);
    $("nurse-toggle").textContent = t(state === "available" ? "nurse.go_away" : "nurse.go_available");
    $("nurse-toggle").disabled = state === "in_consult";
    $("next-patient").disabled = state === "in_consult" || inCall(); // one patient at a time
    $("unit-name").textContent = staff.unit;
    // Whatever she does (starts her shift, admits someone), the question is answered.
    if (state !== "away") $("duty-prompt").hidden = true;
  }

  async function refresh() {
    const reply = await call("GET", `/api/units/${unit}/queue`);
    if (!reply.ok) return;
    state = reply.data.me?.state ?? "away";
    waiting = new Map(reply.data.entries.map((entry) => [entry.consult_id, entry]));
    render();
    onChange();
  }

  async function setState(target) {
    const reply = await call("PUT", "/api/nurses/me/state", { state: target });
    if (!reply.ok) onStatus(`error.${reply.data.error?.code ?? "generic"}`);
    await refresh();
    return reply.ok;
  }

  /** Signed in and away: ask once whether her shift starts, instead of leaving patients told nobody is on duty. */
  async function offerShift() {
    const reply = await call("GET", "/api/nurses/me/state"); // also makes her a member of the unit's queue
    if (!reply.ok || prompted) return;
    prompted = true;
    state = reply.data.state;
    render();
    $("duty-prompt").hidden = state !== "away";
  }

  $("start-shift").onclick = async () => {
    if (await setState("available")) onStatus("duty.started");
  };
  $("duty-later").onclick = () => {
    $("duty-prompt").hidden = true;
  };
  $("nurse-toggle").onclick = () => setState(state === "available" ? "away" : "available");
  $("next-patient").onclick = async () => {
    $("next-patient").disabled = true;
    try {
      // Asking for the next patient while away means her shift has started: she follows what she does.
      if (state === "away" && !(await setState("available"))) return;
      const reply = await call("POST", `/api/units/${unit}/next`);
      if (!reply.ok) return onStatus(`error.${reply.data.error?.code ?? "generic"}`);
      await admit(reply.data.consult_id);
    } finally {
      await refresh();
    }
  };

  offerShift().then(refresh);
  timer = setInterval(refresh, REFRESH_MS);
  return {
    refresh,
    /** The unit queue's entry of a waiting consult, or undefined. */
    entry: (consultId) => waiting.get(consultId),
    /** The call is over: she is back on duty, available for the next patient. */
    async afterCall() {
      if (state !== "available") await setState("available");
    },
    stop() {
      clearInterval(timer);
      $("duty-prompt").hidden = true;
    },
  };
}
