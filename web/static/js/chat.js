// The consult's text chat (and the patient's photos), one panel on the patient page and the console.
// Messages come numbered by the server (`seq`); the panel shows them in that order, asks for what it
// missed after a reconnection (`chat:history` after the last `seq` it saw), and marks what it showed
// as read. Everything people wrote is put on the page with textContent, never as markup.
import { formatTime, t } from "/static/js/i18n.js";

const READ_DELAY_MS = 300;
const SILENCE_SAMPLES = 3; // 3 checks 2 s apart without inbound audio packets: "no audio"
const SILENCE_CHECK_MS = 2000;

function element(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

/** An element whose words follow the page's language switch (i18n.js applyTranslations). */
function translated(tag, className, key) {
  const node = element(tag, className, t(key));
  node.dataset.i18n = key;
  return node;
}

export class ChatPanel {
  /**
   * @param {HTMLElement} root the (empty) container the panel builds itself in
   * @param {object} options
   *   me(): the hello reply (participant_id, role); follow: open the consult of any message that
   *   arrives while none is open (the console before admission); photos: {upload(file) → reply}
   *   on the patient page; photoUrl(consultId, photoId) and keepPhoto(consultId, photoId) on the console.
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.socket = null;
    this.consultId = null;
    this.byConsult = new Map(); // consult id -> { messages: Map(seq -> message), reads: {id: seq} }
    this.readSent = 0;
    // photo id -> its box, built once: a re-render (a read mark, a new message) keeps the image
    // loaded and what the nurse ticked or kept.
    this.photoBoxes = new Map();
    this.build();
  }

  build() {
    this.root.classList.add("chat");
    this.root.setAttribute("aria-labelledby", "chat-title");
    const title = element("h2", "chat-title");
    title.id = "chat-title";
    title.dataset.i18n = "chat.title";
    title.textContent = t("chat.title");
    this.offer = element("p", "chat-offer");
    this.offer.setAttribute("role", "alert");
    this.offer.hidden = true;
    // A live log (read out as messages arrive) around an ordered list of the messages.
    const log = element("div", "chat-scroll");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    this.list = element("ol", "chat-log");
    log.append(this.list);
    this.status = element("p", "chat-status");
    this.status.setAttribute("role", "status");
    this.form = element("form", "chat-form");
    this.input = element("textarea", "chat-input");
    this.input.id = "chat-input";
    this.input.rows = 2;
    this.input.maxLength = 1000;
    this.input.setAttribute("aria-label", t("chat.placeholder"));
    this.input.placeholder = t("chat.placeholder");
    const send = translated("button", "primary", "chat.send");
    send.type = "submit";
    send.id = "chat-send";
    this.form.append(this.input, send);
    if (this.options.photos) {
      // A button in the page's language: the file input's own "Choose File" and "No file
      // chosen" come in the browser's language, beside a label in the page's.
      const label = element("label", "chat-photo");
      const file = element("input", "visually-hidden");
      file.type = "file";
      file.id = "chat-photo";
      file.accept = "image/*";
      file.setAttribute("capture", "environment");
      label.append(file, translated("span", "", "chat.photo"));
      file.addEventListener("change", () => this.sendPhoto(file));
      this.form.append(label);
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.send();
      }
    });
    this.root.replaceChildren(title, this.offer, log, this.status, this.form);
  }

  /** The language changed: words built here follow (those with data-i18n follow by themselves). */
  relabel() {
    this.input.placeholder = t("chat.placeholder");
    this.input.setAttribute("aria-label", t("chat.placeholder"));
    if (this.offer.dataset.reason) this.offer.textContent = t(this.offer.dataset.reason);
    this.render();
  }

  /** Listen on a (new) socket: messages, read marks, and catching up on every (re)connection. */
  bind(socket) {
    this.socket = socket;
    socket.on("chat:message", (message) => this.received(message));
    socket.on("chat:read", ({ consult_id, participant_id, seq }) => {
      const state = this.state(consult_id);
      state.reads[participant_id] = Math.max(state.reads[participant_id] ?? 0, seq);
      if (consult_id === this.consultId) this.render();
    });
    socket.on("connect", () => this.catchUp());
  }

  state(consultId) {
    if (!this.byConsult.has(consultId)) this.byConsult.set(consultId, { messages: new Map(), reads: {} });
    return this.byConsult.get(consultId);
  }

  lastSeq(consultId) {
    return Math.max(0, ...this.state(consultId).messages.keys());
  }

  /** Show the chat of ``consultId`` (null: none). */
  show(consultId) {
    if (consultId === this.consultId) return;
    this.consultId = consultId;
    this.readSent = 0;
    if (this.options.follow) this.root.hidden = !consultId;
    this.root.dataset.consultId = consultId ?? "";
    this.status.textContent = "";
    this.render();
    this.catchUp();
  }

  async catchUp() {
    const consultId = this.consultId;
    if (!consultId || !this.socket?.connected) return;
    const after = this.lastSeq(consultId);
    const reply = await this.socket.timeout(10000).emitWithAck("chat:history", { consult_id: consultId, after }).catch(() => null);
    if (!reply?.ok) return;
    const state = this.state(consultId);
    for (const message of reply.messages) state.messages.set(message.seq, message);
    for (const [who, seq] of Object.entries(reply.reads)) state.reads[who] = Math.max(state.reads[who] ?? 0, seq);
    this.root.dataset.full = reply.full ? "true" : "false";
    if (consultId === this.consultId) this.render();
  }

  received(message) {
    this.state(message.consult_id).messages.set(message.seq, message);
    if (!this.consultId && this.options.follow) this.show(message.consult_id);
    if (message.consult_id === this.consultId) this.render();
    else this.root.dataset.unread = message.consult_id;
  }

  /** Audio failed (or the patient said so): offer the chat at once, with the cursor in it. */
  offerChat(reasonKey) {
    this.offer.dataset.reason = reasonKey;
    this.offer.textContent = t(reasonKey);
    this.offer.hidden = false;
    this.root.hidden = false;
    this.root.dataset.offered = "true";
    this.input.focus();
  }

  render() {
    const me = this.options.me();
    const state = this.consultId ? this.state(this.consultId) : null;
    const messages = state ? [...state.messages.values()].sort((a, b) => a.seq - b.seq) : [];
    const others = state ? Object.entries(state.reads).filter(([who]) => who !== me?.participant_id) : [];
    this.list.replaceChildren(
      ...messages.map((message) => {
        const mine = message.from.participant_id === me?.participant_id;
        const item = element("li", mine ? "chat-message mine" : "chat-message");
        item.dataset.seq = message.seq;
        item.dataset.role = message.from.role;
        const head = element("p", "chat-head");
        head.append(element("span", "chat-name", mine ? t("chat.you") : message.from.name));
        head.append(element("time", "chat-time", formatTime(message.at)));
        item.append(head, element("p", "chat-text", message.text));
        if (message.photo_id) item.append(this.photo(message));
        if (mine) {
          const read = others.some(([, seq]) => seq >= message.seq);
          const mark = element("span", "chat-state", t(read ? "chat.read" : "chat.sent"));
          mark.dataset.state = read ? "read" : "sent";
          item.append(mark);
        }
        return item;
      }),
    );
    this.list.scrollTop = this.list.scrollHeight;
    this.markRead(messages);
  }

  photo(message) {
    const built = this.photoBoxes.get(message.photo_id);
    if (built) return built;
    const box = element("div", "chat-photo-box");
    this.photoBoxes.set(message.photo_id, box);
    if (!this.options.photoUrl) {
      box.append(element("span", "chat-photo-sent", t("chat.photo_sent")));
      return box;
    }
    const image = element("img", "chat-image");
    image.alt = t("chat.photo_alt").replace("{name}", message.from.name);
    image.src = this.options.photoUrl(message.consult_id, message.photo_id);
    image.dataset.photoId = message.photo_id;
    box.append(image);
    if (this.options.keepPhoto) {
      const consent = element("label", "chat-consent");
      const box2 = element("input");
      box2.type = "checkbox";
      box2.className = "chat-photo-consent";
      consent.append(box2, element("span", "", t("chat.photo_consent")));
      const keep = element("button", "chat-keep", t("chat.photo_keep"));
      keep.type = "button";
      keep.disabled = true;
      box2.addEventListener("change", () => (keep.disabled = !box2.checked));
      keep.addEventListener("click", async () => {
        keep.disabled = true;
        const ok = await this.options.keepPhoto(message.consult_id, message.photo_id);
        keep.textContent = t(ok ? "chat.photo_kept" : "chat.error.generic");
        box.dataset.kept = ok ? "true" : "false";
      });
      box.append(consent, keep);
    }
    return box;
  }

  markRead(messages) {
    const newest = messages.at(-1)?.seq ?? 0;
    if (!newest || newest <= this.readSent || document.hidden || this.root.hidden) return;
    this.readSent = newest;
    const consultId = this.consultId;
    setTimeout(() => this.socket?.emit("chat:read", { consult_id: consultId, seq: newest }), READ_DELAY_MS);
  }

  showError(code) {
    const key = `chat.error.${code}`;
    this.status.dataset.code = code;
    this.status.textContent = t(key) === key ? t("chat.error.generic") : t(key);
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || !this.consultId || !this.socket) return;
    const reply = await this.socket
      .timeout(10000)
      .emitWithAck("chat:send", { consult_id: this.consultId, text })
      .catch(() => ({ ok: false, error: { code: "network" } }));
    if (!reply.ok) return this.showError(reply.error.code);
    this.status.textContent = "";
    delete this.status.dataset.code;
    this.input.value = "";
    this.received(reply.message);
  }

  async sendPhoto(file) {
    const chosen = file.files?.[0];
    file.value = "";
    if (!chosen || !this.consultId) return;
    this.status.textContent = t("chat.photo_sending");
    const reply = await this.options.photos.upload(this.consultId, chosen).catch(() => null);
    if (!reply?.ok) return this.showError(reply?.code ?? "network");
    this.status.textContent = "";
    this.received(reply.message);
  }

  /** What the patient says ("I can't hear you") goes to the others as a message too. */
  async say(key) {
    this.input.value = t(key);
    await this.send();
  }
}

/**
 * Watch the inbound audio of a subscribing peer connection: no new audio packets for
 * SILENCE_SAMPLES checks in a row calls ``onSilent`` once (until packets flow again).
 * Returns a function that stops watching.
 */
export function watchInboundAudio(peerConnection, onSilent) {
  let lastPackets = null;
  let quiet = 0;
  let told = false;
  const timer = setInterval(async () => {
    const pc = peerConnection();
    if (!pc || pc.connectionState === "closed") return;
    let packets = 0;
    let audioLines = 0;
    (await pc.getStats().catch(() => new Map())).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        audioLines += 1;
        packets += report.packetsReceived ?? 0;
      }
    });
    if (!audioLines) return; // nobody sends us audio (yet): nothing to miss
    quiet = lastPackets !== null && packets <= lastPackets ? quiet + 1 : 0;
    lastPackets = packets;
    if (quiet === 0) told = false;
    if (quiet >= SILENCE_SAMPLES && !told) {
      told = true;
      onSilent();
    }
  }, SILENCE_CHECK_MS);
  return () => clearInterval(timer);
}
