// The nurse's clinical note beside the call: template chooser, a form drawn from the template the
// server sends, autosave (never overwriting newer text: a conflict is shown and the newer version
// can be loaded), the version saved, and signing. Text only ever goes into the page as textContent
// or form values: whatever the nurse types (`a < b`, `<img src=x onerror=…>`) stays text. A refusal
// names the form field in the status line and marks it (aria-invalid) until the next good save.
import { currentLanguage, t } from "/static/js/i18n.js";
import { requestJson } from "/static/js/http.js";
import { placeFollowUp } from "/static/js/follow_up.js";
import { foldSections } from "/static/js/note_sections.js";

const SAVE_DELAY_MS = 700; // autosave this long after typing stops
const RETRY_MS = 3000;
const $ = (id) => document.getElementById(id);

let templates = null;
let state = null; // { consultId, note, dirty, saving, again, timer, conflict, signId, savedText }
let wired = false;

const lang = () => (currentLanguage() === "en" ? "en" : "es");
const title = (item) => (lang() === "en" ? item.title_en : item.title_es);

/** The server's message in the viewer's language (message_es/message_en, else "Spanish / English"). */
function message(data, fallbackKey) {
  const error = data?.error;
  const own = error?.[`message_${lang()}`] ?? error?.message_es;
  if (own) return own;
  const text = error?.message;
  if (!text) return t(fallbackKey);
  const [es, en] = text.split(" / ");
  return lang() === "en" && en ? en : es;
}

/** Mark the form fields a refusal names (none: clear the marks). */
function markInvalid(data) {
  for (const input of $("notes-form").querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const field of data?.error?.fields ?? []) {
    const input = document.getElementById(`note-${field.section}-${field.key}`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

function setStatus(text, kind = "info") {
  $("notes-status").textContent = text;
  $("notes-status").dataset.kind = kind;
}

function showSaved() {
  const note = state.note;
  document.getElementById("notes").dataset.version = String(note.version);
  document.getElementById("notes").dataset.status = note.status;
  if (note.status === "signed") setStatus(t("notes.signed").replace("{version}", note.version), "ok");
  else setStatus(t("notes.saved").replace("{version}", note.version), "ok");
}

/** Start (or resume) the notes for the consult this nurse hosts. Safe to call again. */
export async function startNotes(consultId) {
  wire();
  if (state?.consultId === consultId) return;
  if (state?.dirty && !state.conflict) await save(); // the previous consult's last words first
  clearTimeout(state?.timer);
  state = { consultId, note: null, dirty: false, saving: false, again: false, timer: null, conflict: null, signId: null };
  $("notes").hidden = false;
  $("notes-close").hidden = true;
  $("notes-form").replaceChildren();
  $("notes-form").hidden = true;
  $("notes-conflict").hidden = true;
  $("notes-sign").hidden = true;
  $("notes-keep-chat-choice").hidden = true;
  setStatus(t("notes.loading"));
  // Disabled until the chooser holds the templates and the consult's own draft is known: a
  // template opened before that would be wiped by the draft's answer arriving after it.
  $("notes-open").disabled = true;
  if (!templates) {
    const reply = await requestJson("GET", "/api/notes/templates");
    if (!reply.ok) return setStatus(message(reply.data, "notes.error"), "error");
    templates = reply.data.templates;
  }
  fillChooser();
  const reply = await requestJson("GET", `/api/consults/${encodeURIComponent(consultId)}/note`);
  if (state?.consultId !== consultId) return;
  $("notes-open").disabled = false;
  if (!reply.ok) return setStatus(message(reply.data, "notes.error"), "error");
  if (reply.data.note) {
    show(reply.data.note);
  } else {
    setStatus(t("notes.choose"));
  }
}

/** The call ended: the note stays open so the nurse can finish and sign it, then close it. */
export function callEnded() {
  if (state) $("notes-close").hidden = false;
}

/** Put the note away (its last words saved first); the consult's draft stays on the server. */
async function closeNotes() {
  if (state?.dirty && !state.conflict) await save();
  if (state?.dirty || state?.conflict) return; // unsaved or conflicting text: keep it on screen
  clearTimeout(state?.timer);
  state = null;
  $("notes").hidden = true;
}

function fillChooser() {
  const select = $("notes-template");
  const chosen = select.value;
  select.replaceChildren(
    ...templates.map((tpl) => {
      const option = document.createElement("option");
      option.value = tpl.code;
      option.textContent = title(tpl);
      return option;
    }),
  );
  if (chosen) select.value = chosen;
}

async function openTemplate() {
  if (!state) return;
  if (state.dirty) await save();
  const code = $("notes-template").value;
  if (!code || state.note?.template === code) return;
  const reply = await requestJson("POST", `/api/consults/${encodeURIComponent(state.consultId)}/note`, { template: code });
  if (!reply.ok) return setStatus(message(reply.data, "notes.error"), "error");
  show(reply.data.note);
}

/** Draw the note's form from its template and fill it with the note's content. */
function show(note) {
  state.note = note;
  state.dirty = false;
  state.conflict = null;
  state.savedText = undefined; // the form is redrawn from this version: the next change is saved
  const tpl = templates.find((item) => item.code === note.template);
  $("notes-template").value = note.template;
  const form = $("notes-form");
  form.replaceChildren(...tpl.sections.map(renderSection));
  form.hidden = false;
  fill(note.content);
  $("notes-conflict").hidden = true;
  const signed = note.status === "signed";
  form.inert = signed;
  for (const element of form.elements) element.disabled = signed;
  $("notes-sign").hidden = signed;
  $("notes-keep-chat-choice").hidden = signed;
  $("notes-sign").disabled = false;
  showSaved();
  foldSections(form, state.consultId);
  placeFollowUp(form, state.consultId);
}

function label(forId, spec) {
  const element = document.createElement("label");
  element.htmlFor = forId;
  element.dataset.es = spec.title_es + (spec.unit ? ` (${spec.unit})` : "") + (spec.required ? " *" : "");
  element.dataset.en = spec.title_en + (spec.unit ? ` (${spec.unit})` : "") + (spec.required ? " *" : "");
  element.textContent = element.dataset[lang()];
  return element;
}

function option(value, es, en) {
  const element = document.createElement("option");
  element.value = value;
  element.dataset.es = es;
  element.dataset.en = en;
  element.textContent = element.dataset[lang()];
  return element;
}

function renderField(section, spec) {
  const id = `note-${section.code}-${spec.key}`;
  let input;
  if (spec.kind === "text" || spec.kind === "text-list") {
    const long = spec.kind === "text-list" || spec.max_length > 300;
    input = document.createElement(long ? "textarea" : "input");
    if (long) input.rows = spec.kind === "text-list" ? 3 : 4;
    if (spec.kind === "text") input.maxLength = spec.max_length;
  } else if (spec.kind === "number" || spec.kind === "integer") {
    input = document.createElement("input");
    input.type = "number";
    input.inputMode = spec.kind === "integer" ? "numeric" : "decimal";
    input.step = spec.kind === "integer" ? "1" : "0.1";
    if (spec.minimum !== null) input.min = String(spec.minimum);
    if (spec.maximum !== null) input.max = String(spec.maximum);
  } else if (spec.kind === "date") {
    input = document.createElement("input");
    input.type = "date";
  } else {
    input = document.createElement("select");
    input.append(option("", "—", "—"));
    if (spec.kind === "boolean") {
      input.append(option("true", "Sí", "Yes"), option("false", "No", "No"));
    } else {
      for (const choice of spec.choices) input.append(option(choice.code, choice.es, choice.en));
    }
  }
  input.id = id;
  input.dataset.section = section.code;
  input.dataset.key = spec.key;
  input.dataset.kind = spec.kind;
  input.autocomplete = "off";
  const wrapper = document.createElement("div");
  wrapper.className = "note-field";
  wrapper.append(label(id, spec), input);
  if (spec.kind === "text-list") {
    const hint = document.createElement("small");
    hint.className = "hint";
    hint.dataset.i18n = "notes.one_per_line";
    hint.textContent = t("notes.one_per_line");
    wrapper.append(hint);
  }
  return wrapper;
}

function renderSection(section) {
  const fieldset = document.createElement("fieldset");
  fieldset.dataset.section = section.code;
  const legend = document.createElement("legend");
  legend.dataset.es = section.title_es;
  legend.dataset.en = section.title_en;
  legend.textContent = title(section);
  fieldset.append(legend, ...section.fields.map((spec) => renderField(section, spec)));
  return fieldset;
}

function fields() {
  return [...$("notes-form").querySelectorAll("[data-key]")];
}

function fill(content) {
  for (const input of fields()) {
    const value = content?.[input.dataset.section]?.[input.dataset.key];
    if (value === undefined || value === null) input.value = "";
    else if (input.dataset.kind === "text-list") input.value = value.join("\n");
    else input.value = String(value);
  }
}

function collect() {
  const content = {};
  for (const input of fields()) {
    const raw = input.value;
    let value;
    switch (input.dataset.kind) {
      case "text-list":
        value = raw.split("\n").map((line) => line.trim()).filter(Boolean);
        if (!value.length) continue;
        break;
      case "number":
      case "integer":
        if (raw === "") continue;
        value = Number(raw);
        if (!Number.isFinite(value)) continue;
        break;
      case "boolean":
        if (raw === "") continue;
        value = raw === "true";
        break;
      default:
        if (raw.trim() === "") continue;
        value = raw;
    }
    (content[input.dataset.section] ??= {})[input.dataset.key] = value;
  }
  return content;
}

function changed() {
  if (!state?.note || state.note.status === "signed") return;
  state.dirty = true;
  setStatus(t("notes.unsaved"));
  clearTimeout(state.timer);
  state.timer = setTimeout(() => save(), SAVE_DELAY_MS);
}

/** Save the form as the next version of the draft; a newer version on the server stops autosave. */
async function save({ keepalive = false } = {}) {
  if (!state?.note || state.conflict || state.note.status === "signed" || !state.dirty) return;
  clearTimeout(state.timer);
  if (state.saving) {
    state.again = true; // saved right after the request in flight, from the version it returns
    return;
  }
  state.dirty = false;
  const content = collect();
  const sent = JSON.stringify(content);
  if (sent === state.savedText) return showSaved(); // a change event after the input events: nothing new
  state.saving = true;
  const current = state;
  const note = current.note;
  setStatus(t("notes.saving"));
  let reply;
  try {
    reply = await requestJson("PUT", `/api/notes/${encodeURIComponent(note.note_id)}`, { base_version: note.version, content }, { keepalive });
  } catch {
    current.saving = false;
    current.dirty = true;
    setStatus(t("notes.offline"), "error");
    current.timer = setTimeout(() => save(), RETRY_MS);
    return;
  }
  current.saving = false;
  if (state !== current) return;
  if (reply.ok) {
    state.note = reply.data.note;
    state.savedText = sent;
    markInvalid(null);
    showSaved();
    if (state.dirty) setStatus(t("notes.unsaved"));
  } else if (reply.status === 409 && reply.data.note) {
    conflict(reply.data.note);
  } else if (reply.data?.error?.code === "note_signed") {
    const fresh = await requestJson("GET", `/api/notes/${encodeURIComponent(note.note_id)}`);
    if (fresh.ok) show(fresh.data.note);
  } else {
    state.dirty = true;
    markInvalid(reply.data);
    setStatus(message(reply.data, "notes.error"), "error");
  }
  if (state.again) {
    state.again = false;
    if (state.dirty) save();
  }
}

function conflict(newer) {
  state.conflict = newer;
  state.dirty = true;
  clearTimeout(state.timer);
  $("notes-conflict-text").textContent = t("notes.conflict").replace("{version}", newer.version);
  $("notes-conflict").hidden = false;
  $("notes").dataset.conflict = "true";
  setStatus(t("notes.conflict_status"), "error");
}

/** Keep this page's text as the next version, knowingly replacing the newer one. */
function keepMine() {
  if (!state?.conflict) return;
  state.note = state.conflict;
  state.conflict = null;
  $("notes-conflict").hidden = true;
  delete $("notes").dataset.conflict;
  state.dirty = true;
  save();
}

function loadNewer() {
  if (!state?.conflict) return;
  const newer = state.conflict;
  delete $("notes").dataset.conflict;
  show(newer);
}

async function sign() {
  if (!state?.note || state.note.status === "signed") return;
  $("notes-sign").disabled = true;
  if (state.dirty) await save();
  if (state.dirty || state.conflict) {
    $("notes-sign").disabled = false;
    return;
  }
  state.signId ??= crypto.randomUUID(); // one id per signing, reused on retries: signing is idempotent
  setStatus(t("notes.signing"));
  let reply;
  try {
    reply = await requestJson("POST", `/api/notes/${encodeURIComponent(state.note.note_id)}/sign`, {
      version: state.note.version,
      request_id: state.signId,
      keep_chat: document.getElementById("notes-keep-chat")?.checked ?? false,
    });
  } catch {
    $("notes-sign").disabled = false;
    return setStatus(t("notes.offline"), "error");
  }
  $("notes-sign").disabled = false;
  if (reply.ok) {
    state.signId = null;
    show(reply.data.note);
  } else {
    if (reply.data?.error?.code !== "stale_version") state.signId = null;
    markInvalid(reply.data);
    setStatus(message(reply.data, "notes.error"), "error");
  }
}

function relabel() {
  if (templates) fillChooser();
  for (const element of document.querySelectorAll("#notes [data-es]")) {
    element.textContent = element.dataset[lang()];
  }
  if (state?.note && !state.dirty && !state.conflict) showSaved();
  if (state?.conflict) $("notes-conflict-text").textContent = t("notes.conflict").replace("{version}", state.conflict.version);
}

function flush() {
  if (state?.dirty && !state.conflict) save({ keepalive: true });
}

function wire() {
  if (wired) return;
  wired = true;
  $("notes-form").addEventListener("input", changed);
  $("notes-form").addEventListener("change", changed);
  $("notes-form").addEventListener("submit", (event) => event.preventDefault());
  $("notes-open").addEventListener("click", openTemplate);
  $("notes-load-newer").addEventListener("click", loadNewer);
  $("notes-keep-mine").addEventListener("click", keepMine);
  $("notes-sign").addEventListener("click", sign);
  $("notes-close").addEventListener("click", closeNotes);
  $("lang").addEventListener("click", relabel);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);
  window.teleconsultaNotes = { state: () => (state ? { note: state.note, dirty: state.dirty, conflict: state.conflict } : null) };
}
