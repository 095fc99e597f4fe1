// The host's lobby controls on the console: who is in the call, waiting or denied; deny,
// re-invite, send back to the waiting room, admit again, ask to mute, lock the room.
// Every decision is a socket event (docs/protocol.md); the server answers with `consult:state`.
import { describeQuality } from "/static/js/call_quality.js";
import { t } from "/static/js/i18n.js";
import { presence } from "/static/js/presence.js";

const $ = (id) => document.getElementById(id);

let current = null; // the console's controls (a console that signs in again builds new ones)
// Why someone is not (fully) in the call (their devices, their connection) changes the list too.
presence.addEventListener("change", () => current?.consult && current.render(current.consult));

export class LobbyControls {
  /**
   * @param socket the console's socket.io connection
   * @param context `() => ({ me, consult })`: who this console is and the consult it hosts
   * @param onStatus `(key) => void`: show a status message (an i18n key), `null` to clear
   */
  constructor(socket, context, onStatus) {
    this.socket = socket;
    this.context = context;
    this.onStatus = onStatus;
    this.consult = null;
    socket.on("consult:state", ({ consult }) => {
      const { consult: active } = this.context();
      if (active && consult.consult_id === active.consult_id) this.render(consult);
    });
    current = this;
    /** Each participant's last scored `media:quality` sample, shown beside their name. */
    this.quality = new Map();
    socket.on("media:quality", (sample) => this.showQuality(sample));
    // Assigned, not added: a console that reconnects builds a new LobbyControls.
    $("lock").onclick = () => {
      if (!this.consult) return;
      const event = this.consult.locked ? "room:unlock" : "room:lock";
      this.send(event, { consult_id: this.consult.consult_id });
    };
  }

  async send(event, payload, doneKey = null) {
    const reply = await this.socket.timeout(10000).emitWithAck(event, payload).catch(() => null);
    if (!reply) return this.onStatus("error.network");
    if (!reply.ok) return this.onStatus(`error.${reply.error.code}`);
    if (reply.consult) this.render(reply.consult);
    this.onStatus(doneKey);
  }

  decide(event, participantId, doneKey = null) {
    return this.send(event, { consult_id: this.consult.consult_id, participant_id: participantId }, doneKey);
  }

  /** A "deny" button for a waiting patient in the queue (before anyone hosts the consult). */
  denyButton(entry) {
    return this.button("lobby.deny", "danger", async () => {
      const reply = await this.socket
        .timeout(10000)
        .emitWithAck("lobby:deny", { consult_id: entry.consult_id, participant_id: entry.patient_id })
        .catch(() => null);
      if (!reply?.ok) this.onStatus(reply ? `error.${reply.error.code}` : "error.network");
    });
  }

  hide() {
    this.consult = null;
    $("lobby-controls").hidden = true;
  }

  render(consult = this.context().consult) {
    this.consult = consult;
    const section = $("lobby-controls");
    section.hidden = !consult;
    if (!consult) return;
    const { me } = this.context();
    $("lock").textContent = t(consult.locked ? "lobby.unlock" : "lobby.lock");
    $("lock").setAttribute("aria-pressed", String(Boolean(consult.locked)));
    $("locked-badge").hidden = !consult.locked;
    document.body.dataset.roomLocked = String(Boolean(consult.locked));
    const list = $("participants");
    list.replaceChildren();
    for (const person of consult.participants ?? []) {
      if (person.participant_id === (consult.host_id ?? me?.participant_id)) continue;
      const id = person.participant_id;
      const state = consult.denied?.includes(id)
        ? "denied"
        : consult.lobby?.includes(id)
          ? "lobby"
          : consult.in_call?.includes(id)
            ? "in_call"
            : "invited";
      const item = document.createElement("li");
      item.dataset.participant = id;
      item.dataset.state = state;
      const label = document.createElement("span");
      const unit = person.unit_name ? ` · ${person.unit_name}` : "";
      const why = state === "denied" ? "" : presence.describe(id, consult);
      label.textContent = `${person.name} (${t(`role.${person.role}`)}${unit}) — ${t(`lobby.state.${state}`)}${why ? `: ${why}` : ""}`;
      item.append(label);
      if (state === "in_call") {
        item.append(this.qualityNote(id));
        item.append(this.button("lobby.mute", "", () => this.decide("participant:mute", id, "lobby.mute_sent")));
        item.append(this.button("lobby.send_back", "", () => this.decide("lobby:send_back", id)));
      } else if (state === "lobby") {
        item.append(this.button("lobby.admit", "primary", () => this.decide("lobby:admit", id)));
        item.append(this.button("lobby.deny", "danger", () => this.decide("lobby:deny", id)));
      } else if (state === "denied") {
        item.append(this.button("lobby.reinvite", "", () => this.decide("lobby:reinvite", id)));
      } else {
        item.append(this.button("lobby.deny", "danger", () => this.decide("lobby:deny", id)));
      }
      list.append(item);
    }
  }

  /** The grade of a participant's link and why, e.g. "Calidad: regular (MOS 3.4) — pérdida de paquetes 8 % al recibir". */
  qualityNote(participantId) {
    const note = document.createElement("small");
    note.className = "call-quality";
    this.fillQuality(note, this.quality.get(participantId));
    return note;
  }

  fillQuality(note, sample) {
    note.textContent = describeQuality(sample);
    note.dataset.grade = sample?.grade ?? "";
    note.hidden = !note.textContent;
  }

  showQuality(sample) {
    this.quality.set(sample.participant_id, sample);
    const item = $("participants").querySelector(`li[data-participant="${CSS.escape(sample.participant_id)}"]`);
    const note = item?.querySelector(".call-quality");
    if (note) this.fillQuality(note, sample);
  }

  button(key, className, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = className;
    element.textContent = t(key);
    element.dataset.action = key;
    element.addEventListener("click", onClick);
    return element;
  }
}
