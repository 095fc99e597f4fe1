// The nurse's place in her unit's queue: her state (and the start-of-shift prompt), "next patient",
// and the console's one list of patients, kept current by the unit's numbered changes
// (`queue:diff`, docs/protocol.md): a snapshot (GET /api/units/{unit}/queue) at a version, then
// each change numbered one more, applied in order. A gap (a change missed) or a reconnection takes
// a snapshot again; nothing is polled.
import { t } from "/static/js/i18n.js";
import { requestJson as call } from "/static/js/http.js";

const ABSENCE_TICK_MS = 15000; // "absent" follows the clock: redraw, no request

/** Urgent first, then appointment time, check-in time and id: the queue's order key. */
function byOrderKey(a, b) {
  return (
    Number(b.urgent) - Number(a.urgent) ||
    Date.parse(a.appointment_start) - Date.parse(b.appointment_start) ||
    Date.parse(a.checked_in_at) - Date.parse(b.checked_in_at) ||
    (a.consult_id < b.consult_id ? -1 : a.consult_id > b.consult_id ? 1 : 0)
  );
}

/** Appointment time, then who checked in first: the order of the unit's list. */
function byAppointment(a, b) {
  return (
    Date.parse(a.appointment_start) - Date.parse(b.appointment_start) ||
    Date.parse(a.checked_in_at ?? a.appointment_end) - Date.parse(b.checked_in_at ?? b.appointment_end)
  );
}

/**
 * Mount the panel for `staff` (from GET /api/session). `admit(consultId)` is the console's own
 * admission (the socket's lobby:admit), so the call opens exactly as when admitting from the list.
 * `onStatus(key)` shows a message (an i18n key). `onChange()` is called whenever the list changed,
 * so the console redraws it; `inCall()` says whether this console is in a call (no "next patient" then).
 * The console hands every `queue:diff` to `apply` and calls `refresh` on each (re)connection.
 */
export function mountQueuePanel(staff, { admit, onStatus, onChange, inCall }) {
  const $ = (id) => document.getElementById(id);
  const unit = encodeURIComponent(staff.unit);
  let state = "away";
  let version = null; // the unit's change number the list holds; null until the first snapshot
  let syncing = null; // the snapshot request under way
  let pending = []; // numbered changes heard while a snapshot was under way
  const consults = new Map(); // consult id -> consult view (with its version)
  const ended = new Set(); // consults that ended: final, never listed again
  const entries = new Map(); // consult id -> queue entry (order key fields, connection)
  let placed = new Map(); // consult id -> its entry with its place in queue order
  let absentAfterMs = 180000;
  let clockOffsetMs = 0; // server time minus this page's time, from the last snapshot
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

  function reorder() {
    const ordered = [...entries.values()].sort(byOrderKey);
    placed = new Map(ordered.map((entry, index) => [entry.consult_id, { ...entry, place: index + 1 }]));
  }

  function putConsult(view) {
    if (ended.has(view.consult_id)) return;
    const held = consults.get(view.consult_id);
    if (held && (held.version ?? -1) > (view.version ?? -1)) return; // heard out of order: keep the newer
    consults.set(view.consult_id, view);
  }

  function forget(consultId) {
    ended.add(consultId);
    consults.delete(consultId);
  }

  function applyChange(diff) {
    diff.consults.forEach(putConsult);
    diff.consults_removed.forEach(forget);
    diff.entries.forEach((entry) => entries.set(entry.consult_id, entry));
    diff.entries_removed.forEach((id) => entries.delete(id));
    for (const nurse of diff.nurses) if (nurse.nurse_id === staff.staff_id) state = nurse.state;
    if (diff.nurses_removed.includes(staff.staff_id)) state = "away";
  }

  /** Apply the held changes that follow the version in order; a gap asks for a snapshot. */
  function drain() {
    pending.sort((a, b) => a.version - b.version);
    while (pending.length && pending[0].version <= version + 1) {
      const diff = pending.shift();
      if (diff.version === version + 1) {
        applyChange(diff);
        version = diff.version;
      }
    }
    if (pending.length) refresh();
  }

  function changed() {
    reorder();
    render();
    onChange();
  }

  async function snapshot() {
    const reply = await call("GET", `/api/units/${unit}/queue`);
    if (!reply.ok) return;
    const data = reply.data;
    state = data.me?.state ?? "away";
    version = data.version;
    absentAfterMs = data.absent_after_seconds * 1000;
    clockOffsetMs = Date.parse(data.server_time) - Date.now();
    consults.clear();
    data.consults.forEach(putConsult);
    entries.clear();
    for (const entry of data.entries) {
      const { place, appointment_id, patient_name, absent, eligible_for_me, ...kept } = entry;
      entries.set(entry.consult_id, kept);
    }
  }

  /** A snapshot, then the changes heard meanwhile; one request at a time. */
  function refresh() {
    syncing ??= snapshot()
      .catch(() => {})
      .finally(() => {
        syncing = null;
        if (version !== null) drain();
        changed();
      });
    return syncing;
  }

  /** One `queue:diff`: numbered ones in order, unnumbered ones (a consult hosted for another unit) at once. */
  function apply(diff) {
    if (diff.version === null) {
      applyChange(diff);
      return changed();
    }
    if (syncing || version === null) return void pending.push(diff);
    if (diff.version <= version) return; // already in the snapshot held
    pending.push(diff);
    drain();
    changed();
  }

  async function setState(target) {
    const reply = await call("PUT", "/api/nurses/me/state", { state: target });
    if (!reply.ok) onStatus(`error.${reply.data.error?.code ?? "generic"}`);
    else state = reply.data.state;
    render();
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
      state = reply.data.nurse.state;
      await admit(reply.data.consult_id);
    } finally {
      render();
    }
  };

  offerShift().then(refresh);
  const ticker = setInterval(onChange, ABSENCE_TICK_MS);
  return {
    refresh,
    apply,
    /** The consult ended (heard in its own room): off the list for good. */
    forget(consultId) {
      forget(consultId);
      changed();
    },
    /** The consults the list shows, in the unit's order. */
    consults: () => [...consults.values()].sort(byAppointment),
    /** The unit queue's entry of a waiting consult (place, checked_in_at, connected, absent), or undefined. */
    entry(consultId) {
      const found = placed.get(consultId);
      if (!found) return undefined;
      const now = Date.now() + clockOffsetMs;
      const absent = found.dropped_at !== null && now - Date.parse(found.dropped_at) >= absentAfterMs;
      return { ...found, absent };
    },
    /** The call is over: she is back on duty, available for the next patient. */
    async afterCall() {
      if (state !== "available") await setState("available");
    },
    stop() {
      clearInterval(ticker);
      $("duty-prompt").hidden = true;
    },
  };
}
