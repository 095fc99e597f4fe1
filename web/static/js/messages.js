// The unit's recent messages to patients (GET /api/units/{unit}/outbox): which message went on which
// channel, whether it was sent, and why one was not, so staff know whether a patient was told
// without asking the operators. Folded until opened; read when opened or refreshed, never polled
// (the outbox changes on the dispatcher's clock, not the nurse's). Times are in the viewer's zone;
// everything from the server is set as text, never as HTML.
import { formatShortDateTime, t, zoneName } from "/static/js/i18n.js";
import { requestJson as call } from "/static/js/http.js";

const REASONS = new Set(["no_channel_configured", "opted_out", "appointment_changed", "too_late"]);

/** Why a message was not sent, in words: the outbox's own reasons, or a provider's code as it came. */
function reason(error) {
  if (!error) return "";
  if (REASONS.has(error)) return t(`messages.why.${error}`);
  return t("messages.why.provider").replace("{code}", error);
}

/** Mount the panel for `staff` (from GET /api/session); `onStatus(key)` shows a refusal. */
export function mountMessagesPanel(staff, { onStatus }) {
  const $ = (id) => document.getElementById(id);
  const panel = $("messages");
  const unit = encodeURIComponent(staff.unit);
  let messages = null; // the last answer's messages, newest first
  let stopped = false;

  function render() {
    $("messages-zone").textContent = zoneName(); // by its name, never the bare IANA id
    $("messages-empty").hidden = messages === null || messages.length > 0;
    const labels = [...panel.querySelectorAll("th")].map((th) => th.textContent);
    $("messages-rows").replaceChildren(
      ...(messages ?? []).map((message) => {
        const tr = document.createElement("tr");
        tr.dataset.status = message.status;
        const cells = [
          formatShortDateTime(message.sent_at ?? message.due_at),
          t(`messages.kind.${message.kind}`),
          t(`messages.channel.${message.channel}`),
          message.address,
          t(`messages.status.${message.status}`),
          reason(message.last_error),
          String(message.attempts.length),
        ];
        cells.forEach((text, column) => {
          const cell = document.createElement("td");
          cell.dataset.label = labels[column] ?? "";
          cell.textContent = text;
          tr.append(cell);
        });
        return tr;
      }),
    );
  }

  async function load() {
    $("messages-refresh").disabled = true;
    try {
      const reply = await call("GET", `/api/units/${unit}/outbox`);
      if (stopped) return;
      if (!reply.ok) return onStatus(`error.${reply.data.error?.code ?? "generic"}`);
      messages = reply.data.messages;
      render();
    } catch {
      onStatus("error.generic");
    } finally {
      $("messages-refresh").disabled = false;
    }
  }

  const onToggle = () => panel.open && load();
  const onRefresh = () => load();
  panel.addEventListener("toggle", onToggle);
  $("messages-refresh").addEventListener("click", onRefresh);
  render();
  return {
    /** Draw again in the page's language (the language switch). */
    render,
    stop() {
      stopped = true;
      panel.removeEventListener("toggle", onToggle);
      $("messages-refresh").removeEventListener("click", onRefresh);
    },
  };
}
