// A message's unsubscribe link (/baja#t=…): the page first asks what the link can stop (that kind
// of message, e.g. reminders, or every message on that channel) and changes nothing until the
// patient picks one, so a mail scanner that opens the link turns nothing off. The token stays in
// the fragment and goes only in the Authorization header.
import { applyTranslations, installLanguageSwitch, t } from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("t");
let offer = null; // {channel, kind, kinds} from GET /api/unsubscribe
let done = null; // {channel, kinds} once stopped
let failure = null;

const fill = (key, values) => Object.entries(values).reduce((text, [name, value]) => text.replace(`{${name}}`, value), t(key));
const channelName = (channel) => t(`unsubscribe.channel_${channel}`);
const kindName = (kind) => t(`unsubscribe.kind_${kind}`);

function show() {
  if (failure) {
    $("status").textContent = t(failure);
  } else if (done) {
    const channel = channelName(done.channel);
    $("status").textContent = done.kinds
      ? fill("unsubscribe.done_kind", { kind: kindName(offer.kind), channel })
      : fill("unsubscribe.done", { channel });
  } else if (offer) {
    const channel = channelName(offer.channel);
    $("question").textContent = fill("unsubscribe.question", { channel });
    $("stop-kind").textContent = fill("unsubscribe.stop_kind", { kind: kindName(offer.kind) });
    $("stop-channel").textContent = fill("unsubscribe.stop_channel", { channel });
  }
}

function fail(key) {
  document.body.dataset.state = "error";
  failure = key;
  $("question").hidden = true;
  $("choices").hidden = true;
  show();
}

async function call(method, body) {
  const response = await fetch("/api/unsubscribe", {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
    credentials: "omit",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(response.status === 401 ? "unsubscribe.invalid" : "error.generic");
  return data;
}

async function load() {
  if (!token) return fail("unsubscribe.invalid");
  try {
    offer = await call("GET");
  } catch (error) {
    return fail(error.message.startsWith("unsubscribe.") ? error.message : "error.generic");
  }
  $("choices").hidden = false;
  document.body.dataset.state = "ready";
  show();
}

async function stop(what) {
  $("stop-kind").disabled = $("stop-channel").disabled = true;
  try {
    done = await call("POST", { stop: what });
  } catch (error) {
    $("stop-kind").disabled = $("stop-channel").disabled = false;
    failure = error.message.startsWith("unsubscribe.") ? error.message : "error.generic";
    document.body.dataset.state = "error";
    return show();
  }
  failure = null;
  $("choices").hidden = true;
  $("question").hidden = true;
  document.body.dataset.state = "done";
  show();
}

applyTranslations();
installLanguageSwitch($("lang"), show);
$("stop-kind").addEventListener("click", () => stop("kind"));
$("stop-channel").addEventListener("click", () => stop("channel"));
load();
