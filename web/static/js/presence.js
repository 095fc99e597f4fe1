// Why someone is not (fully) in the call: what their page says of itself (`participant:devices`:
// still checking, joining, camera or microphone blocked, missing, stopped, off by choice) and what
// the server saw of their connection (`participant:connection`: reconnecting, left). The call view
// (a note over their picture) and the host's participant list (lobby.js) both read it.
import { t } from "/static/js/i18n.js";

class Presence extends EventTarget {
  constructor() {
    super();
    this.devices = new Map();
    this.connections = new Map();
  }

  setDevices({ participant_id, stage, camera, microphone }) {
    this.devices.set(participant_id, { stage, camera, microphone });
    this.dispatchEvent(new Event("change"));
  }

  setConnection(participantId, state) {
    if (state === "reconnected") this.connections.delete(participantId);
    else this.connections.set(participantId, state);
    this.dispatchEvent(new Event("change"));
  }

  /** The connection state that matters now: a `left` no longer counts once they are back in the call. */
  connection(participantId, consult) {
    const state = this.connections.get(participantId);
    return state === "left" && consult?.in_call?.includes(participantId) ? null : state ?? null;
  }

  /** i18n keys of the reasons `participantId` is not (fully) in the call; empty when all is well. */
  reasons(participantId, consult) {
    const connection = this.connection(participantId, consult);
    if (connection === "reconnecting") return ["presence.reconnecting"];
    const inCall = Boolean(consult?.in_call?.includes(participantId));
    const status = this.devices.get(participantId);
    const keys = [];
    // Sent back to the waiting room: the list already says so; their page's stage adds nothing.
    const sentBack = Boolean(consult?.lobby?.includes(participantId));
    if (connection === "left" || (!inCall && status?.stage === "in_call")) keys.push("presence.left");
    else if (!inCall && !sentBack && status) keys.push(`presence.stage.${status.stage}`);
    if (status) {
      if (status.camera !== "ok") keys.push(`presence.camera.${status.camera}`);
      if (status.microphone !== "ok") keys.push(`presence.microphone.${status.microphone}`);
    } else if (inCall && consult?.participants?.find((p) => p.participant_id === participantId)?.receive_only) {
      keys.push("presence.receive_only");
    }
    return keys;
  }

  /** The reasons as one sentence in the page's language, or "" when all is well. */
  describe(participantId, consult) {
    return this.reasons(participantId, consult)
      .map((key) => t(key))
      .join(" · ");
  }

  /** Whether their picture would only be a frozen or black frame: hide it and say why instead. */
  pictureAway(participantId, consult) {
    if (this.connection(participantId, consult)) return true;
    const camera = this.devices.get(participantId)?.camera;
    return camera !== undefined && camera !== "ok";
  }
}

export const presence = new Presence();
