"""The call's quality in the record: Observations on the Encounter and a sentence in the note.

A reader of a remote consult's record should be able to weigh what was seen remotely: whether the
nurse had the patient on video, how well they heard each other. When the consult ended before its
note was signed, its session log holds a ``call_summary`` (``rooms/call_summary.py``); the signed
Bundle then carries one ``Observation`` per measure, coded in our ``call-quality`` CodeSystem (LOINC
has none for a teleconsultation's transmission), and the Composition a section, *Calidad de la
teleconsulta*, whose narrative says it in Spanish and English, e.g. «Consulta con video limitado el
35 % del tiempo / Consult with limited video 35 % of the time». A note signed while the call goes
on carries neither: the call's quality is known only when it ends.

Pure: this module says what to record; ``records/bundle_call_quality.py`` makes the resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from records import codes
from rooms.call_summary import CallSummary, logged_summary
from rooms.quality_log import MediaPath
from rooms.session_log import SessionEvent

SECTION_CODE = "call-quality"
SECTION_TITLE_ES = "Calidad de la teleconsulta"
SECTION_TITLE_EN = "Teleconsultation call quality"
MEASURED_BY = "Servidor de medios de Teleconsulta / Teleconsulta media server"
MOS_METHOD = "Estimación E-model (UIT-T G.107) / E-model estimate (ITU-T G.107)"
PATHS = {
    MediaPath.DIRECT: ("Direct to the media server", "directa al servidor de medios"),
    MediaPath.TURN: ("Through a TURN relay", "por un relevo TURN"),
    MediaPath.UNKNOWN: ("Unknown", "desconocida"),
}
"""Each media path's display (English) and Spanish text."""


@dataclass(frozen=True, slots=True)
class QualityMeasure:
    """One Observation to record: its code in ``call-quality`` and its ``value[x]``."""

    code: str
    display_en: str
    display_es: str
    value: Mapping[str, object]
    method: str | None = None


@dataclass(frozen=True, slots=True)
class CallQualityReport:
    summary: CallSummary
    measures: tuple[QualityMeasure, ...]
    lines: tuple[str, ...]
    """The section's narrative: the sentence about video first, then the figures."""


def _minutes(seconds: float) -> Mapping[str, object]:
    return {
        "valueQuantity": {"value": round(seconds / 60, 1), "unit": "min", "system": codes.UCUM, "code": "min"}
    }


def _mos(value: float) -> Mapping[str, object]:
    return {
        "valueQuantity": {"value": round(value, 2), "unit": "MOS", "system": codes.UCUM, "code": "{score}"}
    }


def video_sentence(summary: CallSummary) -> str:
    """How much of the consult had video, in Spanish and English."""
    share = summary.video_limited_share
    if share is None:
        return "Calidad de la llamada no medida / Call quality not measured"
    if summary.audio_only_seconds <= 0:
        return "Consulta con video todo el tiempo medido / Consult with video all the measured time"
    percent = max(1, round(100 * share))
    return (
        f"Consulta con video limitado el {percent} % del tiempo / "
        f"Consult with limited video {percent} % of the time"
    )


def call_quality_report(events: Sequence[SessionEvent]) -> CallQualityReport | None:
    """What the record says of the call, or None when the log has no summary (yet)."""
    summary = logged_summary(events)
    if summary is None:
        return None
    path_en, path_es = PATHS[summary.media_path]
    megabytes = round(summary.data_bytes / 1e6, 1)
    measures: list[QualityMeasure] = []
    lines = [video_sentence(summary)]
    if summary.mos_mean is not None and summary.mos_worst is not None:
        measures += [
            QualityMeasure(
                "mos-mean",
                "Estimated voice quality, mean (MOS)",
                "Calidad de voz estimada, media (MOS)",
                _mos(summary.mos_mean),
                MOS_METHOD,
            ),
            QualityMeasure(
                "mos-worst",
                "Estimated voice quality, worst (MOS)",
                "Calidad de voz estimada, la peor (MOS)",
                _mos(summary.mos_worst),
                MOS_METHOD,
            ),
        ]
        lines.append(
            f"Calidad de voz estimada (MOS de 1 a 4.5): media {summary.mos_mean:.1f}, peor "
            f"{summary.mos_worst:.1f} / Estimated voice quality (MOS 1 to 4.5): mean "
            f"{summary.mos_mean:.1f}, worst {summary.mos_worst:.1f}"
        )
    measures += [
        QualityMeasure("video-time", "Time with video", "Tiempo con video", _minutes(summary.video_seconds)),
        QualityMeasure(
            "audio-only-time",
            "Time with audio only or paused video",
            "Tiempo solo con audio o con video pausado",
            _minutes(summary.audio_only_seconds),
        ),
        QualityMeasure(
            "reconnections", "Reconnections", "Reconexiones", {"valueInteger": summary.reconnections}
        ),
        QualityMeasure(
            "media-path",
            "Media path",
            "Ruta de los medios",
            {
                "valueCodeableConcept": {
                    "coding": [
                        {"system": codes.MEDIA_PATH, "code": summary.media_path.value, "display": path_en}
                    ],
                    "text": path_es,
                }
            },
        ),
        QualityMeasure(
            "data-used",
            "Data used by the call",
            "Datos usados por la llamada",
            {"valueQuantity": {"value": megabytes, "unit": "MB", "system": codes.UCUM, "code": "MBy"}},
        ),
    ]
    video, audio = summary.video_seconds / 60, summary.audio_only_seconds / 60
    lines.append(
        f"Video {video:.1f} min, solo audio {audio:.1f} min; reconexiones: {summary.reconnections}; "
        f"ruta de los medios: {path_es}; datos: {megabytes:.1f} MB / Video {video:.1f} min, audio only "
        f"{audio:.1f} min; reconnections: {summary.reconnections}; media path: {path_en.lower()}; "
        f"data: {megabytes:.1f} MB"
    )
    return CallQualityReport(summary, tuple(measures), tuple(lines))
