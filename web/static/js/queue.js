// The nurse's unit queue: who waits (times in the nurse's zone), her state, "next patient".
import { formatTime, t } from "/static/js/i18n.js";
import { requestJson as call } from "/static/js/http.js";

const REFRESH_MS = 4000;

/**
 * Mount the panel for `staff` (from GET /api/session). `admit(consultId)` is the console's own
 * admission (the socket's lobby:admit), so the call opens exactly as when admitting from the list.
 */
export function mountQueuePanel(staff, { admit, onError }) {
  const $ = (id) => document.getElementById(id);
  const unit = encodeURIComponent(staff.unit);
  let state = "away";
  let timer = null;

  function render(queue) {
    state = queue.me?.state ?? "away";
    $("nurse-state").dataset.state = state;
    $("nurse-state").textContent = t(`nurse.${state}`);
    $("nurse-toggle").textContent = t(state === "available" ? "nurse.go_away" : "nurse.go_available");
    $("nurse-toggle").disabled = state === "in_consult";
    $("next-patient").disabled = state === "in_consult"; // one patient at a time
    $("unit-name").textContent = staff.unit;
    const rows = $("unit-queue-rows");
    rows.replaceChildren();
    for (const entry of queue.entries) {
      const row = document.createElement("tr");
      row.dataset.consultId = entry.consult_id;
      const status = entry.absent ? "queue.absent" : entry.connected ? "queue.connected" : "queue.reconnecting";
      for (const text of [
        String(entry.place),
        entry.patient_name ?? "—",
        formatTime(entry.appointment_start),
        formatTime(entry.checked_in_at),
        t(status),
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      rows.append(row);
    }
    $("unit-queue-empty").hidden = queue.entries.length > 0;
  }

  async function refresh() {
    const reply = await call("GET", `/api/units/${unit}/queue`);
    if (reply.ok) render(reply.data);
  }

  $("nurse-toggle").addEventListener("click", async () => {
    const target = state === "available" ? "away" : "available";
    const reply = await call("PUT", "/api/nurses/me/state", { state: target });
    if (!reply.ok) onError(reply.data.error?.code ?? "generic");
    await refresh();
  });

  $("next-patient").addEventListener("click", async () => {
    $("next-patient").disabled = true;
    try {
      const reply = await call("POST", `/api/units/${unit}/next`);
      if (!reply.ok) return onError(reply.data.error?.code ?? "generic");
      await admit(reply.data.consult_id);
    } finally {
      $("next-patient").disabled = false;
      await refresh();
    }
  });

  $("unit-queue").hidden = false;
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
  return {
    refresh,
    stop() {
      clearInterval(timer);
      $("unit-queue").hidden = true;
    },
  };
}
