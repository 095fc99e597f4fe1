// A message's unsubscribe link (/baja#t=…): nothing happens until the patient confirms, so a mail
// scanner that opens the link turns nothing off. The token stays in the fragment and goes only in the
// Authorization header.
import { applyTranslations, installLanguageSwitch, t } from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("t");
let done = null;

function show() {
  if (done) $("status").textContent = t("unsubscribe.done").replace("{channel}", t(`unsubscribe.channel_${done}`));
}

function fail(key) {
  document.body.dataset.state = "error";
  $("status").textContent = t(key);
}

async function confirm() {
  if (!token) return fail("unsubscribe.invalid");
  $("confirm").disabled = true;
  let response;
  try {
    response = await fetch("/api/unsubscribe", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    $("confirm").disabled = false;
    return fail("error.generic");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) return fail(response.status === 401 ? "unsubscribe.invalid" : "error.generic");
  done = data.channel;
  $("confirm").hidden = true;
  $("question").hidden = true;
  document.body.dataset.state = "done";
  show();
}

applyTranslations();
installLanguageSwitch($("lang"), show);
$("confirm").addEventListener("click", confirm);
