// The in-call controls and indicators shared by the patient page and the nurse console.
import { linkNotice } from "/static/js/call_quality.js";
import { t } from "/static/js/i18n.js";
import { presence } from "/static/js/presence.js";
import { renderTiles } from "/static/js/rtc.js";

const $ = (id) => document.getElementById(id);

let statusPlaced = false;

/**
 * In a call the status line floats over the page (styles.css), so that a notice never moves the
 * call's controls. It floats just under the header while the header shows, not over its buttons
 * (the language switch, signing out), and at the top once the header has scrolled away. Once per
 * page: the header's place is kept in `--header-bottom`.
 */
function keepStatusUnderHeader() {
  const status = $("status");
  const header = document.querySelector("header");
  if (statusPlaced || !status || !header) return;
  statusPlaced = true;
  const place = () => {
    const bottom = Math.max(0, Math.round(header.getBoundingClientRect().bottom));
    status.style.setProperty("--header-bottom", `${bottom}px`);
  };
  place();
  addEventListener("scroll", place, { passive: true });
  addEventListener("resize", place);
  new ResizeObserver(place).observe(header);
}

export class CallView {
  /**
   * `context()` returns `{ me, consult }`: who this page is and the consult it is in.
   * `onChange()` is called when the person turns their microphone or camera on or off here.
   */
  constructor(socket, context, { onChange = () => {} } = {}) {
    this.socket = socket;
    this.context = context;
    this.onChange = onChange;
    /** What this page can send; the patient page says when a device is blocked, missing or stopped. */
    this.available = { camera: true, microphone: true };
    this.session = null;
    this.audioOn = true;
    this.videoOn = true;
    this.audioOnly = false;
    this.dataSaver = false;
    this.wireButtons();
    socket.on("participant:media", ({ participant_id, audio, video }) => this.showRemoteMedia(participant_id, audio, video));
    socket.on("media:quality", (sample) => this.showQuality(sample));
    socket.on("media:video_paused", ({ paused }) => this.showVideoPaused(paused));
    socket.on("participant:connection", ({ participant_id, state }) => {
      presence.setConnection(participant_id, state);
      this.showConnection(participant_id, state);
    });
    socket.on("participant:devices", (status) => presence.setDevices(status));
    socket.on("consult:state", () => queueMicrotask(() => this.refreshLabels()));
    presence.addEventListener("change", () => this.refreshLabels());
    // Sentences built here follow a language switch too.
    $("lang")?.addEventListener("click", () => queueMicrotask(() => this.refreshLabels()));
    this.presenceNote = this.ensurePresenceNote();
    socket.on("participant:mute_requested", () => this.mutedByHost());
    keepStatusUnderHeader();
  }

  attach(session) {
    this.session = session;
    this.audioOn = this.videoOn = true;
    this.refreshButtons();
    clearInterval(this.usageTimer);
    this.usageTimer = setInterval(() => this.showDataUsed(), 5000);
  }

  /** Roughly how much data the call has used, for people on metered plans. */
  async showDataUsed() {
    if (!this.session) return;
    let bytes = 0;
    for (const pc of [this.session.publisher, this.session.subscriber]) {
      if (!pc) continue;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "transport") bytes += (r.bytesSent ?? 0) + (r.bytesReceived ?? 0);
      });
    }
    $("data-used").hidden = false;
    $("data-used").textContent = t("call.data_used").replace("{mb}", (bytes / 1e6).toFixed(1));
  }

  async setAudioOnly(audioOnly) {
    if (!this.session || this.audioOnly === audioOnly) return;
    this.audioOnly = audioOnly;
    this.refreshButtons();
    this.renderPresence();
    await this.session.setAudioOnly(audioOnly);
    this.sendState();
  }

  /** Data saver keeps video, small and slow; unlike audio only, the faces stay on screen. */
  async setDataSaver(dataSaver) {
    if (!this.session || this.dataSaver === dataSaver) return;
    this.dataSaver = dataSaver;
    this.refreshButtons();
    await this.session.setDataSaver(dataSaver);
  }

  /** After a reconnection the new media session gets the choices made before the drop. */
  async applyPreferences() {
    if (!this.session) return;
    if (this.audioOnly) await this.session.setAudioOnly(true);
    if (this.dataSaver) await this.session.setDataSaver(true);
    if (this.audioOnly) this.sendState();
  }

  detach() {
    this.session = null;
    this.tiles = [];
    clearInterval(this.usageTimer);
    $("data-used").hidden = true;
    $("remote-media").hidden = true;
    $("quality").hidden = true;
    this.samples?.clear();
    this.showLinkNotice();
    renderTiles($("remote"), $("tiles"), [], () => "");
    this.renderPresence();
  }

  /** What `MediaSession` calls when the remote tiles change. */
  render = (tiles) => {
    this.tiles = tiles;
    renderTiles($("remote"), $("tiles"), tiles, (tile) => this.label(tile));
    this.renderPresence();
  };

  /** Names change as people are admitted or invited, and reasons as pages report: redraw. */
  refreshLabels() {
    if (this.session && this.tiles) this.render(this.tiles);
    else this.renderPresence();
  }

  name(participantId) {
    const { consult } = this.context();
    const person = consult?.participants?.find((p) => p.participant_id === participantId);
    return person?.name || (participantId === consult?.host_id ? t("call.nurse") : t("call.participant"));
  }

  label(tile) {
    const name = this.name(tile.participant_id);
    if (tile.source === "screen") return `${t("call.screen_of")} ${name}`;
    const why = presence.describe(tile.participant_id, this.context().consult);
    return why ? `${name}: ${why}` : name;
  }

  /** The note over the main picture; the console's page has no element for it, so it is made here. */
  ensurePresenceNote() {
    let note = $("remote-presence");
    if (!note) {
      note = document.createElement("p");
      note.id = "remote-presence";
      note.className = "presence";
      note.setAttribute("role", "status");
      note.hidden = true;
      $("remote").after(note);
    }
    return note;
  }

  /**
   * Whose picture the main area is for: the one shown, else (nobody shown) the other side of the
   * consult: the nurse for the patient and invitees, the patient for staff.
   */
  mainSubject() {
    const { me, consult } = this.context();
    const shown = $("remote").dataset.participant;
    if (shown) return shown;
    if (!consult) return null;
    const other = me?.participant_id === consult.host_id ? consult.patient_id : consult.host_id;
    return other && other !== me?.participant_id ? other : null;
  }

  /**
   * Say over the main picture why its person is not (fully) there (reconnecting, left, devices
   * blocked or stopped, still checking), and hide a picture that would only be frozen or black.
   */
  renderPresence() {
    const { me, consult } = this.context();
    const subject = this.session ? this.mainSubject() : null;
    let text = "";
    if (subject) {
      const connection = presence.connection(subject, consult);
      const host = subject === consult?.host_id && me?.participant_id !== consult?.host_id;
      if (host && connection) text = t(`presence.host.${connection}`);
      else {
        const why = presence.describe(subject, consult);
        text = why ? `${this.name(subject)}: ${why}` : "";
      }
    }
    // A black picture this page chose: say so, and how to undo it (it may have been chosen at
    // the check, before the call).
    if (!text && this.session && this.audioOnly) text = t("call.audio_only_note");
    const away = Boolean(subject) && presence.pictureAway(subject, consult);
    this.presenceNote.hidden = !text;
    this.presenceNote.textContent = text;
    this.presenceNote.dataset.participant = subject ?? "";
    $("remote").closest(".stage").dataset.presence = away || !$("remote").srcObject ? "away" : "here";
    if (this.peersAway()) $("quality").hidden = true;
    if (this.samples) this.showLinkNotice();
  }

  /** Someone else's connection dropped: the link quality badge would contradict the note. */
  peersAway() {
    return document.body.dataset.peerConnection === "reconnecting";
  }

  sendState() {
    this.socket.emit("media:state", {
      audio: this.audioOn && this.available.microphone,
      video: this.videoOn && !this.audioOnly && this.available.camera,
      screen: Boolean(this.session?.sharingScreen),
    });
    this.onChange();
  }

  /** Which devices this page can send now (`{ camera, microphone }` booleans). */
  setAvailable(available) {
    this.available = { ...available };
    this.refreshButtons();
    if (this.session) this.sendState();
  }

  wireButtons() {
    $("mute").addEventListener("click", () => {
      this.audioOn = !this.audioOn;
      this.session?.setAudio(this.audioOn);
      this.refreshButtons();
      this.sendState();
    });
    $("camera").addEventListener("click", () => {
      this.videoOn = !this.videoOn;
      this.session?.setVideo(this.videoOn);
      this.refreshButtons();
      this.sendState();
    });
    $("audio-only").addEventListener("click", () => this.setAudioOnly(!this.audioOnly));
    $("data-saver").addEventListener("click", () => this.setDataSaver(!this.dataSaver));
    $("screen").addEventListener("click", async () => {
      if (!this.session) return;
      try {
        if (this.session.sharingScreen) await this.session.stopScreen();
        else await this.session.shareScreen();
      } catch {
        // The person cancelled the browser's screen picker: nothing to undo.
      }
      this.refreshButtons();
      this.sendState();
    });
  }

  refreshButtons() {
    const set = (id, key, pressed) => {
      $(id).textContent = t(key);
      $(id).setAttribute("aria-pressed", String(pressed));
    };
    set("mute", this.audioOn ? "call.mute" : "call.unmute", !this.audioOn);
    set("camera", this.videoOn ? "call.camera_off" : "call.camera_on", !this.videoOn);
    set("audio-only", this.audioOnly ? "call.audio_and_video" : "call.audio_only", this.audioOnly);
    set("data-saver", this.dataSaver ? "call.data_saver_off" : "call.data_saver", this.dataSaver);
    const sharing = Boolean(this.session?.sharingScreen);
    set("screen", sharing ? "call.stop_screen" : "call.share_screen", sharing);
    // Nothing to turn on or off without the device; a page that only watches cannot share.
    $("mute").disabled = !this.available.microphone;
    $("camera").disabled = !this.available.camera;
    $("screen").disabled = Boolean(this.session?.receiveOnly);
    document.body.dataset.audioOnly = String(this.audioOnly);
    document.body.dataset.dataSaver = String(this.dataSaver);
  }

  showRemoteMedia(participantId, audio, video) {
    if (participantId === this.context().me?.participant_id) return;
    const notes = [!audio && t("call.remote_muted"), !video && t("call.remote_camera_off")].filter(Boolean);
    $("remote-media").hidden = notes.length === 0;
    $("remote-media").textContent = notes.join(" · ");
  }

  /** The host asked this page to mute: the microphone goes off; the person may turn it on again. */
  mutedByHost() {
    if (!this.session) return;
    if (this.audioOn) {
      this.audioOn = false;
      this.session.setAudio(false);
      this.refreshButtons();
      this.sendState();
    }
    document.body.dataset.mutedByHost = "true";
    $("remote-media").hidden = false;
    $("remote-media").textContent = t("call.muted_by_host");
  }

  /** The server paused the video this page receives because its link is weak: audio goes on. */
  showVideoPaused(paused) {
    document.body.dataset.videoPaused = String(paused);
    $("remote-media").hidden = !paused;
    if (paused) $("remote-media").textContent = t("call.video_paused");
    this.showLinkNotice();
  }

  /** Someone else's connection dropped: say so on the page until they are back (or gone). */
  showConnection(participantId, state) {
    if (participantId === this.context().me?.participant_id) return;
    this.reconnectingPeers ??= new Set();
    if (state === "reconnecting") this.reconnectingPeers.add(participantId);
    else this.reconnectingPeers.delete(participantId);
    const waiting = this.reconnectingPeers.size > 0;
    document.body.dataset.peerConnection = waiting ? "reconnecting" : "ok";
    $("remote-media").hidden = !waiting;
    if (waiting) $("remote-media").textContent = t("call.remote_reconnecting");
    this.renderPresence();
  }

  showQuality(sample) {
    const { participant_id, level } = sample;
    this.samples ??= new Map();
    this.samples.set(participant_id, sample);
    this.showLinkNotice();
    if (participant_id !== this.context().me?.participant_id || !this.session || this.peersAway()) return;
    $("quality").hidden = false;
    $("quality").dataset.level = level;
    $("quality").textContent = t(`quality.${level}`);
  }

  /** Whose link is weak and what is done about it (call_quality.js), beside the own-link badge. */
  showLinkNotice() {
    let note = $("link-notice");
    if (!note) {
      note = document.createElement("p");
      note.id = "link-notice";
      note.className = "badge";
      note.setAttribute("role", "status");
      $("quality").after(note);
    }
    const me = this.context().me?.participant_id;
    const peer = this.mainSubject();
    const text =
      this.session && !this.peersAway()
        ? linkNotice({
            mine: this.samples?.get(me),
            peer: peer ? this.samples?.get(peer) : null,
            peerName: peer ? this.name(peer) : "",
            videoPaused: document.body.dataset.videoPaused === "true",
          })
        : "";
    note.hidden = !text;
    note.textContent = text;
    const mineWeak = ["poor", "bad"].includes(this.samples?.get(me)?.level);
    document.body.dataset.linkNotice = text ? (mineWeak ? "mine" : "peer") : "";
  }
}
