// The patient's after-visit summary, read with their own appointment link. The token stays in the
// URL fragment (never sent to the server in a URL) and goes only in the Authorization header.
// Everything from the server is shown with textContent: nothing it sends can become markup.
import { applyTranslations, currentLanguage, formatDateTime, installLanguageSwitch, t, viewerTimeZone } from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("t");
let summary = null;

const lang = () => (currentLanguage() === "en" ? "en" : "es");
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
  return new Intl.DateTimeFormat(lang() === "es" ? "es-MX" : "en-US", { dateStyle: "full" }).format(day);
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

function render() {
  if (!summary) return;
  $("summary-patient").textContent = summary.patient.name ?? "";
  $("summary-visit").textContent = summary.visit.start ? formatDateTime(summary.visit.start) : "";
  $("summary-zone").textContent = `(${t("summary.zone")} ${viewerTimeZone()})`;
  $("summary-notes").replaceChildren(...summary.notes.map(renderNote));
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
  document.body.dataset.state = "ready";
}

applyTranslations();
installLanguageSwitch($("lang"), render);
$("print").addEventListener("click", () => window.print());
load();
