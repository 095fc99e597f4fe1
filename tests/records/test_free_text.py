"""Ordinary clinical text saves, signs and reads back as written, on SQLite and PostgreSQL.

Text that merely looks like markup or code (``a < b``, ``Ondansetrón = 4 mg``, ``onset=2 days``,
``<img src=x onerror=alert(1)>``) is text: it is stored as written, the Bundle validates, and the
narrative holds it escaped. Refusals name the form field the nurse sees. The class-level property
(any text a draft accepts, signing accepts) is in ``test_free_text_properties.py``.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from records.errors import IncompleteNote, InvalidNote
from records.repository import RecordRepository
from records.validation import validate_bundle, validate_resource
from tests.records.helpers import FIRST_CONSULT_CONTENT, counts, prepare_draft, sign_request, staff_ctx

XHTML = "{http://www.w3.org/1999/xhtml}"
ORDINARY = [
    "Ondansetrón = 4 mg cada 8 h",
    "onset=2 days",
    "a < b",
    "TA > 140/90 & FC < 100; glucosa <130",
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "ver javascript:alert(1) y data:text/html,<b>x</b>",
    "Dijo: \"me duele\" y 'mucho' &amp; &lt;",
    "]]> <!-- nota --> <?xml version='1.0'?> <!DOCTYPE x>",
    "x onclick=alert(1) style=color:red",
]


def paragraphs(div: str) -> list[str]:
    """The narrative's paragraphs as a reader sees them (the XML parsed, ``<br/>`` as newlines)."""
    root = ElementTree.fromstring(div)
    found = []
    for p in root.iter(f"{XHTML}p"):
        text = p.text or ""
        for br in p:
            text += "\n" + (br.tail or "")
        found.append(text)
    return found


def _with(text: str) -> dict[str, Any]:
    """The complete first-consult note with ``text`` in a text field, a list item and the CarePlan."""
    content = copy.deepcopy(FIRST_CONSULT_CONTENT)
    content["reason"]["present_illness"] = text
    content["medications"]["medications"] = [text, "Metformina 850 mg"]
    content["assessment"]["problems"] = [text]
    content["follow-up-plan"]["plan"] = text
    content["referral"]["reason"] = text
    return content


@pytest.mark.parametrize("text", ORDINARY)
async def test_ordinary_text_saves_signs_and_reads_back_as_written(
    repo: RecordRepository, engine: AsyncEngine, text: str
) -> None:
    setup = await prepare_draft(repo, engine, content=_with(text))
    note = await repo.get_note(setup.note_id, staff_ctx())
    assert note.content["reason"]["present_illness"] == text
    assert note.content["medications"]["medications"] == (text, "Metformina 850 mg")

    result = await repo.sign(sign_request(setup), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    assert validate_resource(composition) == []
    shown = {p for s in composition["section"] for p in paragraphs(s["text"]["div"])}
    assert f"Padecimiento actual: {text}" in shown
    assert f"Medicamento, dosis, vía y frecuencia: {text}; Metformina 850 mg" in shown
    for section in composition["section"]:  # escaped: the only elements are the narrative's own
        tags = {e.tag for e in ElementTree.fromstring(section["text"]["div"]).iter()}
        assert tags <= {f"{XHTML}div", f"{XHTML}p", f"{XHTML}br"}
    plans = await repo.everything(setup.patient_id, staff_ctx())
    care_plan = next(e["resource"] for e in plans["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert care_plan["description"] == text
    condition = next(
        e["resource"]
        for e in plans["entry"]
        if e["resource"]["resourceType"] == "Condition" and e["resource"]["code"]["text"] == text
    )
    assert condition["category"][0]["coding"][0]["code"] == "encounter-diagnosis"


async def test_pasted_invisible_characters_are_stored_as_they_look(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    """No-break and other Unicode spaces, line separators, zero-width spaces and byte-order marks
    come with pasted text; they are stored as what they look like, and the note signs."""
    pasted = "\ufeffMetformina\u00a0850\u202fmg\u200b cada\u2009 12 h\u2028segunda línea\r\ntercera\u3000"
    setup = await prepare_draft(repo, engine, content=_with(pasted))
    note = await repo.get_note(setup.note_id, staff_ctx())
    assert note.content["reason"]["present_illness"] == "Metformina 850 mg cada  12 h\nsegunda línea\ntercera"
    await repo.sign(sign_request(setup), staff_ctx())
    assert validate_bundle(await repo.stored_bundle(setup.note_id, staff_ctx())) == []


async def test_refusals_name_the_form_field_in_both_languages(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        (
            {"vitals": {"weight_kg": 900}},
            "vitals.weight_kg",
            "Signos vitales referidos por el paciente \u203a Peso",
            "Vital signs reported by the patient \u203a Weight",
        ),
        (
            {"medications": {"medications": ["ok", "x" * 301]}},
            "medications.medications[1]",
            "Medicamentos que toma \u203a Medicamento, dosis, vía y frecuencia (línea 2)",
            "Current medications \u203a Drug, dose, route and frequency (line 2)",
        ),
        (
            {"follow-up-plan": {"plan": 7}},
            "follow-up-plan.plan",
            "Plan de seguimiento \u203a Plan",
            "Follow-up plan \u203a Plan",
        ),
        (
            {"family-history": {"family_history": "a\x00"}},
            "family-history.family_history",
            "Antecedentes heredofamiliares",  # a field titled like its section is named once
            "Family history",
        ),
        (
            {"referral": {"destination_clues": "no es clues"}},
            "referral.destination_clues",
            "Referencia a atención presencial o de especialidad \u203a CLUES del establecimiento receptor",
            "Referral to in-person or specialist care \u203a CLUES of the receiving establishment",
        ),
        (
            {"vitals": {"systolic_mmhg": 80, "diastolic_mmhg": 120}},
            "vitals.diastolic_mmhg",
            "Signos vitales referidos por el paciente \u203a Presión diastólica",
            "Vital signs reported by the patient \u203a Diastolic pressure",
        ),
    ]
    for content, path, label_es, label_en in cases:
        with pytest.raises(InvalidNote) as error:
            await repo.save_draft(setup.note_id, base_version=setup.version, content=content, ctx=staff_ctx())
        [where] = error.value.fields
        assert (where.path, where.label_es, where.label_en) == (path, label_es, label_en)
        assert f"«{label_es}»" in error.value.message_es and f"'{label_en}'" in error.value.message_en
    assert await counts(engine) == before


async def test_a_clues_is_checked_at_save_so_the_draft_signs(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    """The referral's CLUES becomes a FHIR identifier; a draft could once hold any text there and
    then fail to sign. Now it is checked (and normalized) when the draft is saved."""
    content = copy.deepcopy(FIRST_CONSULT_CONTENT)
    content["referral"]["destination_clues"] = " dfims000034 "
    setup = await prepare_draft(repo, engine, content=content)
    note = await repo.get_note(setup.note_id, staff_ctx())
    assert note.content["referral"]["destination_clues"] == "DFIMS000034"
    await repo.sign(sign_request(setup), staff_ctx())
    assert validate_bundle(await repo.stored_bundle(setup.note_id, staff_ctx())) == []


async def test_a_missing_field_is_named_as_the_form_shows_it(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, content={"reason": {"reason": "Tos"}})
    with pytest.raises(IncompleteNote) as error:
        await repo.sign(sign_request(setup), staff_ctx())
    assert error.value.missing == ["recommendations.recommendations", "follow-up-plan.plan"]
    assert error.value.message_es == (
        "Faltan datos obligatorios: Recomendaciones e indicaciones \u203a Recomendaciones; "
        "Plan de seguimiento \u203a Plan."
    )
    assert error.value.message_en == (
        "Required fields are missing: Recommendations and instructions \u203a Recommendations; "
        "Follow-up plan \u203a Plan."
    )


DIV = '<div xmlns="http://www.w3.org/1999/xhtml">'


@pytest.mark.parametrize(
    ("div", "inert"),
    [
        (f"{DIV}<p>&lt;img src=x onerror=alert(1)&gt; onset=2 a &lt; b</p></div>", True),
        (f"{DIV}<p>Ondansetrón = 4 mg<br/>cada 8 h</p><ul><li><b>x</b></li></ul></div>", True),
        (f"{DIV}<p>x</p><img src='x' onerror='alert(1)'/></div>", False),
        (f"{DIV}<p onclick='alert(1)'>x</p></div>", False),
        (f"{DIV}<script>alert(1)</script></div>", False),
        (f"{DIV}<a href=' javascript:alert(1)'>x</a></div>", False),
        (f'{DIV}<p>x</p><svg xmlns="http://www.w3.org/2000/svg"/></div>', False),
        (f"<!DOCTYPE div [<!ENTITY e 'x'>]>{DIV}<p>&e;</p></div>", False),
        (f"{DIV}<p>&nbsp;</p></div>", False),  # not XML: an undefined entity
        (f"{DIV}<p>x</div>", False),  # not well formed
        (f"{DIV}<p> </p></div>", False),  # no text (txt-2)
        ("<div><p>x</p></div>", False),  # not in the XHTML namespace
    ],
)
def test_narrative_is_judged_by_parsing_it_not_by_its_words(div: str, inert: bool) -> None:
    from tests.records.test_rules import _bundle, _resource

    bundle = _bundle()
    _resource(bundle, "Composition")["section"][0]["text"]["div"] = div
    issues = [i for i in validate_bundle(bundle) if "narrative" in i]
    assert (issues == []) is inert, issues
