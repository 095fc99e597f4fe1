// The estimated quality of a participant's link, in words, beside their name on the console:
// "Calidad: regular (MOS 3.4) — pérdida de paquetes 8 % al recibir". The server scores every
// `media:quality` sample (ITU-T E-model, docs/protocol.md); this only says it.
import { t } from "/static/js/i18n.js";

/** The words for one `media:quality` sample, or "" when nothing flowed to score. */
export function describeQuality(sample) {
  if (!sample?.grade) return "";
  const mos = typeof sample.mos === "number" ? ` (MOS ${sample.mos.toFixed(1)})` : "";
  const text = `${t("call_quality.label")}: ${t(`call_quality.${sample.grade}`)}${mos}`;
  const reason = sample.reason;
  if (!reason) return text;
  const cause = t(`call_quality.reason.${reason.code}`).replace("{value}", String(Math.round(reason.value)));
  return `${text} — ${cause} ${t(`call_quality.direction.${reason.direction}`)}`;
}

const WEAK = new Set(["poor", "bad"]);

/**
 * Whose link is weak and what the product does about it, for the note beside the pictures, or ""
 * when every link is fine. `mine` and `peer` are the latest `media:quality` samples of this page's
 * person and of the other side; the server measures each on that person's own link only, so a weak
 * peer never makes this page's own badge weak. When this page's own incoming video is paused its
 * picture already says so ("call.video_paused"), so the note does not repeat it.
 */
export function linkNotice({ mine, peer, peerName, videoPaused }) {
  if (WEAK.has(mine?.level)) return videoPaused ? "" : t("link.mine_protected");
  if (WEAK.has(peer?.level)) {
    const key = peer.video === "paused" ? "link.peer_paused" : "link.peer_protected";
    return t(key).replace("{name}", peerName);
  }
  return "";
}
