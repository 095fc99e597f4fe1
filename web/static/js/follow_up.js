// Booking the follow-up from the note, right after its follow-up plan: the free slots of the
// consult's unit on a chosen day, each shown in the nurse's time zone and in the patient's. Booking
// goes to POST /api/consults/{id}/follow-up, which books for the consult's own patient: their NSS
// and contact never reach this page, and neither does their new link (it is theirs).
import { currentLanguage, t, viewerTimeZone, zoneName } from "/static/js/i18n.js";
import { requestJson } from "/static/js/http.js";

let block = null; // { consultId, element, context, slots, status }
let wired = false;

const locale = () => (currentLanguage() === "en" ? "en-US" : "es-MX");

function dayIn(iso, zone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

function timeIn(iso, zone, withDay) {
  const options = { timeZone: zone, timeStyle: "short" };
  if (withDay) Object.assign(options, { dateStyle: "medium" });
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

/** The server's "Spanish / English" message in the viewer's language. */
function message(data) {
  const text = data?.error?.message;
  if (!text) return t("followup.error");
  const [es, en] = text.split(" / ");
  return currentLanguage() === "en" && en ? en : es;
}

function make(tag, props = {}, ...children) {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

function translated(tag, key, props = {}) {
  const element = make(tag, props);
  element.dataset.i18n = key;
  element.textContent = t(key);
  return element;
}

function build(consultId) {
  const part = {
    title: translated("h3", "followup.title", { id: "follow-up-title" }),
    zones: make("p", { id: "follow-up-zones", className: "hint" }),
    date: make("input", { id: "follow-up-date", type: "date", required: true }),
    find: translated("button", "followup.find", { id: "follow-up-find", type: "button" }),
    slot: make("select", { id: "follow-up-slot" }),
    book: translated("button", "followup.book", { id: "follow-up-book", type: "button", className: "primary" }),
    status: make("p", { id: "follow-up-status", className: "follow-up-status" }),
    upcomingTitle: translated("h4", "followup.upcoming"),
    upcoming: make("ul", { id: "follow-up-upcoming", className: "follow-up-upcoming" }),
  };
  part.status.setAttribute("role", "status");
  part.status.setAttribute("aria-live", "polite");
  const slotField = make("div", { className: "follow-up-slot", hidden: true }, translated("label", "followup.slot", { htmlFor: "follow-up-slot" }), part.slot);
  const element = make(
    "section",
    { id: "follow-up", className: "follow-up-booking", hidden: true },
    part.title,
    part.zones,
    make("div", { className: "follow-up-day" }, translated("label", "followup.date", { htmlFor: "follow-up-date" }), part.date, part.find),
    slotField,
    part.book,
    part.status,
    make("div", { className: "follow-up-list", hidden: true }, part.upcomingTitle, part.upcoming),
  );
  element.setAttribute("aria-labelledby", "follow-up-title");
  // Inside the note's form: its own fields must not count as edits of the note (autosave).
  for (const type of ["input", "change"]) element.addEventListener(type, (event) => event.stopPropagation());
  const current = { consultId, element, part, slotField, context: null, slots: [], status: null };
  part.find.addEventListener("click", () => findSlots(current));
  part.book.addEventListener("click", () => book(current));
  part.slot.addEventListener("change", () => (part.book.disabled = !part.slot.value));
  part.book.disabled = true;
  load(current);
  return current;
}

const path = (current) => `/api/consults/${encodeURIComponent(current.consultId)}/follow-up`;

async function load(current) {
  const reply = await requestJson("GET", path(current));
  if (!reply.ok) return; // not a consult with a booked patient (or not hers): nothing to offer
  current.context = reply.data;
  const today = dayIn(new Date().toISOString(), viewerTimeZone());
  const planned = document.getElementById("note-follow-up-plan-next_contact")?.value;
  const tomorrow = dayIn(new Date(Date.now() + 86400000).toISOString(), viewerTimeZone());
  current.part.date.min = today;
  current.part.date.value = planned && planned >= today ? planned : tomorrow;
  current.element.hidden = false;
  render(current);
}

function setStatus(current, text, kind = "info") {
  current.status = { text, kind };
  current.part.status.textContent = text;
  current.part.status.dataset.kind = kind;
}

/** Texts that depend on the language and the zones (drawn again on a language switch). */
function render(current) {
  const context = current.context;
  if (!context) return;
  const mine = viewerTimeZone();
  const theirs = context.patient_zone;
  // The zones by their names in the page's language, as the patient's own pages name them.
  current.part.zones.textContent = t("followup.zones")
    .replace("{mine}", zoneName(mine))
    .replace("{theirs}", zoneName(theirs));
  const chosen = current.part.slot.value;
  current.part.slot.replaceChildren(
    ...current.slots.map((slot) => {
      const otherDay = dayIn(slot.start, mine) !== dayIn(slot.start, theirs);
      const text = t("followup.slot_option")
        .replace("{mine}", timeIn(slot.start, mine, false))
        .replace("{theirs}", timeIn(slot.start, theirs, otherDay));
      return make("option", { value: slot.start, textContent: text });
    }),
  );
  if (chosen) current.part.slot.value = chosen;
  current.part.book.disabled = !current.part.slot.value;
  current.slotField.hidden = current.slots.length === 0;
  current.part.upcoming.replaceChildren(
    ...context.upcoming.map((appointment) => {
      const item = make("li", {
        textContent: t("followup.item")
          .replace("{mine}", timeIn(appointment.start, mine, true))
          .replace("{mine_zone}", mine)
          .replace("{theirs}", timeIn(appointment.start, theirs, true))
          .replace("{theirs_zone}", theirs),
      });
      item.dataset.appointmentId = appointment.appointment_id;
      item.dataset.start = appointment.start;
      return item;
    }),
  );
  current.part.upcoming.parentElement.hidden = context.upcoming.length === 0;
}

async function findSlots(current) {
  if (!current.context || !current.part.date.value) return;
  setStatus(current, t("followup.loading"));
  const query = new URLSearchParams({ unit: current.context.unit, date: current.part.date.value, zone: viewerTimeZone() });
  const reply = await requestJson("GET", `/api/slots?${query}`);
  if (!reply.ok) return setStatus(current, message(reply.data), "error");
  current.slots = reply.data.slots;
  render(current);
  setStatus(current, current.slots.length ? "" : t("followup.none"));
}

async function book(current) {
  const start = current.part.slot.value;
  if (!start) return;
  current.part.book.disabled = true;
  setStatus(current, t("followup.booking"));
  const reply = await requestJson("POST", path(current), { start });
  if (!reply.ok) {
    current.part.book.disabled = false;
    return setStatus(current, message(reply.data), "error");
  }
  current.context.upcoming = [...current.context.upcoming, reply.data.appointment].sort((a, b) => a.start.localeCompare(b.start));
  current.slots = current.slots.filter((slot) => slot.start !== start);
  render(current);
  setStatus(current, t("followup.booked"), "ok");
  current.element.dataset.booked = reply.data.appointment.appointment_id;
}

/**
 * Put the booking part right after the note's follow-up plan (or after the form once the note is
 * signed and the form is read-only); none for a template without a follow-up plan.
 */
export function placeFollowUp(form, consultId) {
  if (!wired) {
    wired = true;
    document.getElementById("lang").addEventListener("click", () => {
      if (!block) return;
      render(block);
      if (block.status?.kind === "ok") setStatus(block, t("followup.booked"), "ok");
    });
  }
  if (block?.consultId !== consultId) {
    block?.element.remove();
    block = build(consultId);
  }
  const plan = form.querySelector('fieldset[data-section="follow-up-plan"]');
  if (!plan) return block.element.remove();
  if (form.inert) form.after(block.element);
  else plan.after(block.element);
}
