// The coordinator's inter-unit sessions page: create a session, invite sites, copy their links.
// REST only (docs/api.md, "Invitations and inter-unit sessions"); the call itself is on /consola.
import { applyTranslations, currentLanguage, formatDateTime, installLanguageSwitch, t } from "/static/js/i18n.js";
import { requestJson as api } from "/static/js/http.js";

const $ = (id) => document.getElementById(id);
const links = new Map(); // site id → its link, known only when the site was invited from this page
let options = null;
let sessions = [];

function setStatus(key) {
  $("status").hidden = !key;
  $("status").textContent = key ? t(key) : "";
}

function failed(reply) {
  const key = `error.${reply.data.error?.code ?? "generic"}`;
  setStatus(t(key) === key ? "error.generic" : key);
}

function element(tag, text = "", attributes = {}) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function fillOptions() {
  const language = currentLanguage();
  $("purpose").replaceChildren(
    ...options.purposes.map((p) => element("option", p.label[language] ?? p.label.es, { value: p.value })),
  );
  $("specialty").replaceChildren(...options.specialties.map((s) => element("option", s, { value: s })));
}

function siteForm(session) {
  const form = element("form", "", { class: "invite", "data-session": session.session_id });
  form.append(element("h4", t("sessions.add_site")));
  const fields = [
    ["clues", "sessions.site_clues", { required: "", maxlength: "20", pattern: "[A-Za-z]{5}[0-9]{6}" }],
    ["unit_name", "sessions.site_unit", { required: "", maxlength: "120" }],
    ["name", "sessions.site_name", { required: "", maxlength: "120" }],
  ];
  for (const [name, key, attributes] of fields) {
    const id = `${session.session_id}-${name}`;
    form.append(element("label", t(key), { for: id }), element("input", "", { id, name, autocomplete: "off", ...attributes }));
  }
  const roleId = `${session.session_id}-role`;
  const role = element("select", "", { id: roleId, name: "role" });
  role.append(...options.site_roles.map((r) => element("option", t(`role.${r}`), { value: r })));
  form.append(element("label", t("sessions.site_role"), { for: roleId }), role);
  form.append(element("button", t("sessions.add_site"), { type: "submit", class: "primary" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(new FormData(form).entries());
    const reply = await api("POST", `/api/interunit-sessions/${session.session_id}/sites`, body);
    if (!reply.ok) return failed(reply);
    links.set(reply.data.site.site_id, reply.data.link);
    setStatus(null);
    await load();
  });
  return form;
}

function siteRow(session, site) {
  const row = element("tr", "", { "data-site": site.site_id });
  const role = site.host ? t("sessions.host_site") : t(`role.${site.role}`);
  for (const text of [site.clues, site.unit_name, site.name, role]) row.append(element("td", text));
  const actions = element("td");
  const link = links.get(site.site_id);
  if (link) {
    const field = element("input", "", { readonly: "", class: "site-link", "aria-label": t("invite.link") });
    field.value = link;
    const copy = element("button", t("sessions.copy"), { type: "button" });
    copy.addEventListener("click", async () => {
      field.select();
      await navigator.clipboard?.writeText(link).catch(() => {});
      setStatus("sessions.copied");
    });
    actions.append(field, copy);
  }
  if (!site.host) {
    const remove = element("button", t("sessions.remove"), { type: "button", class: "danger" });
    remove.addEventListener("click", async () => {
      const reply = await api("DELETE", `/api/interunit-sessions/${session.session_id}/sites/${site.site_id}`);
      if (!reply.ok) return failed(reply);
      links.delete(site.site_id);
      await load();
    });
    actions.append(remove);
  }
  row.append(actions);
  return row;
}

function render() {
  $("none").hidden = sessions.length > 0;
  const container = $("sessions");
  container.replaceChildren();
  for (const session of sessions) {
    const article = element("article", "", { "data-session": session.session_id });
    const label = session.purpose_label[currentLanguage()] ?? session.purpose_label.es;
    article.append(element("h3", `${label} · ${session.specialty}`));
    article.append(element("p", formatDateTime(session.scheduled_at)));
    article.append(element("h4", `${t("sessions.sites")} (${session.sites.length}/${session.max_sites})`));
    const table = element("table");
    const head = element("tr");
    for (const key of ["sessions.site_clues", "sessions.site_unit", "sessions.site_name", "sessions.site_role"]) {
      head.append(element("th", t(key), { scope: "col" }));
    }
    head.append(element("th", "", { scope: "col" }));
    table.append(element("thead"), element("tbody"));
    table.tHead.append(head);
    for (const site of session.sites) table.tBodies[0].append(siteRow(session, site));
    article.append(table);
    if (session.sites.length < session.max_sites) article.append(siteForm(session));
    container.append(article);
  }
}

async function load() {
  const reply = await api("GET", "/api/interunit-sessions");
  if (!reply.ok) return failed(reply);
  sessions = reply.data.sessions;
  render();
}

$("session-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await api("POST", "/api/interunit-sessions", {
    purpose: $("purpose").value,
    specialty: $("specialty").value,
    scheduled_at: new Date($("scheduled-at").value).toISOString(),
    duration_minutes: Number($("duration").value),
    clues: $("clues").value.trim(),
    unit_name: $("unit-name").value.trim(),
    patient_nss: $("patient-nss").value.trim() || null,
  });
  if (!reply.ok) return failed(reply);
  setStatus(null);
  await load();
});

applyTranslations();
installLanguageSwitch($("lang"), () => {
  if (options) fillOptions();
  render();
});
const me = await api("GET", "/api/session");
if (!me.ok || !me.data.signed_in) {
  document.body.dataset.state = "signed-out";
  $("sign-in").hidden = false;
} else {
  $("who").textContent = me.data.full_name;
  options = (await api("GET", "/api/interunit-options")).data;
  fillOptions();
  $("unit-name").value = me.data.unit ?? "";
  $("create").hidden = me.data.role !== "coordinator";
  $("mine").hidden = false;
  document.body.dataset.state = "ready";
  await load();
}
