// The one-time set-password page (/contrasena#t=<token>): the token stays in the fragment, so it
// never reaches a server log; the page sends it once with the new password (POST /api/password-setup).
import { applyTranslations, installLanguageSwitch, t } from "/static/js/i18n.js";
import { requestJson as api } from "/static/js/http.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("t");
history.replaceState(null, "", location.pathname); // the link is spent once used: do not keep it

function say(key) {
  $("status").textContent = key ? t(key) : "";
}

applyTranslations();
installLanguageSwitch($("lang"));
if (!token) {
  $("setup").hidden = true;
  say("password.link_missing");
}

$("setup").addEventListener("submit", async (event) => {
  event.preventDefault();
  if ($("password").value !== $("again").value) return say("password.mismatch");
  const { ok, data } = await api("POST", "/api/password-setup", { token, password: $("password").value });
  if (ok) {
    $("setup").hidden = true;
    $("done").hidden = false;
    return say("");
  }
  const code = data.error?.code;
  say(code === "weak_password" ? "password.weak" : code === "setup_link_invalid" ? "password.link_invalid" : "error.generic");
});
