// The patient's after-visit summary, read with their appointment link or their lasting summary link.
// The token stays in the URL fragment (never sent to the server in a URL) and goes only in the
// Authorization header. Everything from the server is shown with textContent: nothing it sends can
// become markup.
import {
  applyTranslations,
  currentLanguage,
  formatDateTime,
  installLanguageSwitch,
  t,
  zoneName,
} from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("t");
let summary = null;

const lang = () => (currentLanguage() === "en" ? "en" : "es");
const locale = () => (lang() === "es" ? "es-MX" : "en-US");
const pick = (item, base) => item[`${base}_${lang()}`] ?? item[`${base}_es`];

function setStatus(key) {
  $("status").hidden = !key;
  if (key) {
    $("status").dataset.i18n = key;
    $("status").textContent = t(key);
  }
}

/** A calendar date (YYYY-MM-DD) as written: a date without a time is the same day in every zone. */
function formatDate(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? "");
  if (!match) return value ? formatDateTime(value) : "";
  const day = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return new Intl.DateTimeFormat(locale(), { dateStyle: "full" }).format(day);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function facts(rows) {
  const list = element("dl", null, "summary-facts");
  for (const [label, value] of rows) {
    if (!value) continue;
    list.append(element("dt", label), element("dd", value));
  }
  return list;
}

function renderNote(note) {
  const section = element("section", null, note.addendum ? "summary-note addendum" : "summary-note");
  section.append(element("h2", note.addendum ? t("summary.addendum") : pick(note, "title")));
  section.append(element("p", `${t("summary.signed_by")}: ${note.author ?? ""} · ${note.date ? formatDateTime(note.date) : ""}`, "zone"));
  for (const part of note.sections) {
    if (!note.addendum) section.append(element("h3", pick(part, "title")));
    for (const item of part.items) {
      const block = element("div", null, "summary-item");
      if (part.items.length > 1 || !note.addendum) block.append(element("strong", `${pick(item, "label")}: `));
      block.append(element("span", pick(item, "value")));
      section.append(block);
    }
  }
  return section;
}

/** A reading as the patient wrote it down: "128/82 mm Hg", "28.3 kg/m² (alto)". */
function reading(item) {
  const number = new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 });
  const value = `${item.values.map((v) => number.format(v)).join("/")} ${item.unit}`;
  const note = pick(item, "note");
  return note ? `${value} (${note})` : value;
}

function renderVitals() {
  const vitals = summary.vitals;
  $("summary-vitals").hidden = !vitals;
  if (!vitals) return;
  $("summary-vitals-when").textContent = t("summary.vitals_when")
    .replace("{date}", formatDateTime(vitals.date))
    .replace("{zone}", zoneName());
  $("summary-vitals-items").replaceChildren(
    ...vitals.items.flatMap((item) => [element("dt", pick(item, "label")), element("dd", reading(item))]),
  );
}

/** Whether two zones show the same wall-clock time at `iso` (then one line says it all). */
function sameClock(iso, zone) {
  const at = (timeZone) => new Intl.DateTimeFormat("en-US", { timeZone, dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
  return at(undefined) === at(zone);
}

function renderNextAppointment() {
  const next = summary.next_appointment;
  $("summary-next").hidden = !next;
  if (!next) return;
  $("summary-next-when").textContent = formatDateTime(next.start);
  $("summary-next-zone").textContent = `(${zoneName()})`;
  const service = $("summary-next-service");
  service.hidden = sameClock(next.start, next.service_zone) && zoneName() === zoneName(next.service_zone);
  service.textContent = t("summary.next_in_zone")
    .replace("{zone}", zoneName(next.service_zone))
    .replace("{date}", formatDateTime(next.start, next.service_zone));
  $("summary-next-kind").textContent = t(`summary.kind.${next.kind}`);
}

function renderLink() {
  const link = summary.summary_link;
  $("summary-link").hidden = !link;
  if (!link) return;
  $("summary-link-body").textContent = t("summary.link_body").replace("{date}", `${formatDateTime(link.expires_at)} (${zoneName()})`);
  $("summary-link-url").href = link.url;
  $("summary-link-url").textContent = link.url;
}

function render() {
  if (!summary) return;
  $("summary-patient").textContent = summary.patient.name ?? "";
  $("summary-visit").textContent = summary.visit.start ? formatDateTime(summary.visit.start) : "";
  $("summary-zone").textContent = `(${zoneName()})`;
  renderVitals();
  $("summary-notes").replaceChildren(...summary.notes.map(renderNote));
  renderNextAppointment();
  $("summary-follow-up").hidden = summary.follow_up.length === 0;
  $("summary-follow-up-items").replaceChildren(
    ...summary.follow_up.map((plan) =>
      facts([
        [t("summary.next_contact"), plan.date ? formatDate(plan.date) : null],
        [t("summary.modality"), pick(plan, "modality")],
        [t("summary.plan"), plan.plan],
      ]),
    ),
  );
  $("summary-referral").hidden = summary.referrals.length === 0;
  $("summary-referral-items").replaceChildren(
    ...summary.referrals.map((referral) =>
      facts([
        [t("summary.referral_kind"), pick(referral, "kind")],
        [t("summary.urgency"), pick(referral, "urgency")],
        [t("summary.destination"), referral.destination],
        [t("summary.specialty"), referral.specialty],
        [t("summary.reason"), referral.reason],
      ]),
    ),
  );
  renderLink();
  $("summary-link-copied").textContent = "";
}

/**
 * Opened with the appointment link (which dies hours after the visit): put the lasting link in the
 * address bar, so a bookmark or a reload of this page keeps working for as long as the summary does.
 */
function keepLastingLink() {
  const lasting = summary.summary_link && new URL(summary.summary_link.url);
  if (lasting && lasting.pathname === location.pathname && lasting.hash !== location.hash) {
    history.replaceState(null, "", lasting.pathname + lasting.hash);
  }
}

async function copyLink() {
  let key = "summary.copied";
  try {
    await navigator.clipboard.writeText(summary.summary_link.url);
  } catch {
    key = "summary.copy_failed"; // no clipboard (an insecure page, a refused permission)
  }
  $("summary-link-copied").textContent = t(key);
}

async function load() {
  if (!token) {
    document.body.dataset.state = "error";
    return setStatus("state.link_missing");
  }
  let response;
  try {
    response = await fetch("/api/summary", {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    document.body.dataset.state = "error";
    return setStatus("error.network");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = data.error?.code ?? "generic";
    document.body.dataset.state = "error";
    document.body.dataset.error = code;
    const key = code === "summary_not_ready" ? "summary.not_ready" : `error.${code}`;
    return setStatus(t(key) === key ? "error.generic" : key);
  }
  summary = data;
  setStatus(null);
  $("summary").hidden = false;
  render();
  keepLastingLink();
  document.body.dataset.state = "ready";
}

applyTranslations();
installLanguageSwitch($("lang"), render);
$("print").addEventListener("click", () => window.print());
$("summary-link-copy").addEventListener("click", copyLink);
load();
