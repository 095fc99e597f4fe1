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
