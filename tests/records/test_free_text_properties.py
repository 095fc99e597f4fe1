"""The class of bug, not its cases: whatever a draft save accepts, signing accepts.

For any content of any template (text built from ordinary characters, markup-looking snippets,
invisible characters, controls, bidirectional overrides, lone surrogates; numbers in and out of range;
wrong types), a draft save either refuses it with a clear error naming a form field, or accepts it;
and an accepted draft, once its required fields are filled, signs into a Bundle that the
``fhir.resources`` models and our rules (``records/validation.py``) both accept, with every text shown
in the narrative exactly as it was stored. Checked on the pure rules (many examples) and through the
repository on SQLite and PostgreSQL (fewer, each a real save and sign).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from records.db import create_engine
from records.errors import IncompleteNote, InvalidNote, NoteTooLarge, UnsafeText
from records.fhir_bundle import AmendedNote, ResourceIds, SignedConsult, build_bundle
from records.notes import FieldValue, Note, content_to_json, missing_fields, new_draft, revise, sign
from records.repository import RecordRepository, SignRequest
from records.session_logs import SessionLogArchive
from records.templates import TEMPLATES, FieldKind, FieldSpec, SectionSpec, Template, TemplateCode, template
from records.validation import validate_bundle
from rooms.session_log import EventKind
from tests.records.helpers import CONSENT, NURSE, PATIENT, SIGNING_KEY, START, Clock, session_log, staff_ctx
from tests.records.test_free_text import paragraphs

PIECES = [
    "<", ">", "&", "=", '"', "'", ";", "/", "\n", "\r\n", "\r", "\t", " ", "  ",
    "a < b", "x<y", "<b>", "</p>", "<br/>", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    " onerror=", "onset=2", "Ondansetrón = 4 mg", "javascript:", "data:text/html,", "&lt;", "&amp;",
    "&#x27;", "&nbsp;", "]]>", "<!DOCTYPE x>", "<!--", "-->", "<?xml?>", "{{x}}", "${x}",
    "e\u0301", "\u00a0", "\u202f", "\u2009", "\u3000", "\u2028", "\u2029", "\x85", "\u200b", "\u200e",
    "\ufeff", "\U0001f600", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\ufb01",
]  # fmt: skip
FORBIDDEN = ["\x00", "\x07", "\x1b", "\x7f", "\x9b", "\u202e", "\u2066", "\ud800", "\udfff", "\uffff"]
CLEAN_TEXT = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=6), st.sampled_from(PIECES)),
    max_size=10,
).map("".join)
TEXT = st.one_of(
    CLEAN_TEXT,
    st.tuples(CLEAN_TEXT, st.sampled_from(FORBIDDEN), CLEAN_TEXT).map("".join),
    st.text(max_size=20),  # anything at all, controls included
    st.tuples(st.sampled_from(["x", "Texto "]), st.integers(100, 1100)).map(lambda t: t[0] * t[1]),
)


def values(spec: FieldSpec, *, wrong_types: bool = True) -> st.SearchStrategy[Any]:
    """Values of the right JSON type for the field (in range or not); other types now and then."""
    wrong = st.one_of(st.none(), st.integers(), st.booleans(), st.just([]), st.just({}))
    match spec.kind:
        case FieldKind.TEXT if spec.identifier == "clues":
            right: st.SearchStrategy[Any] = st.one_of(
                st.from_regex(r"[A-Za-z]{5}[0-9]{6}", fullmatch=True), TEXT
            )
        case FieldKind.TEXT:
            right = TEXT
        case FieldKind.TEXT_LIST:
            right = st.lists(TEXT, max_size=min(spec.max_items + 1, 6))
        case FieldKind.NUMBER:
            right = st.one_of(st.floats(-10, 1000), st.floats(), st.integers(-10, 1000))
        case FieldKind.INTEGER:
            right = st.one_of(st.integers(-10, 1000), st.floats(0, 300))
        case FieldKind.BOOLEAN:
            right = st.booleans()
        case FieldKind.CHOICE:
            right = st.one_of(st.sampled_from([c.code for c in spec.choices]), TEXT)
        case FieldKind.DATE:
            right = st.one_of(st.dates(date(1990, 1, 1), date(2110, 12, 31)).map(date.isoformat), TEXT)
    return st.one_of(right, right, right, wrong) if wrong_types else right


@st.composite
def contents(draw: st.DrawFn, tpl: Template) -> dict[str, dict[str, Any]]:
    content: dict[str, dict[str, Any]] = {}
    for section in tpl.sections:
        if draw(st.booleans()):
            keys = draw(st.sets(st.sampled_from([f.key for f in section.fields])))
            content[section.code] = {
                spec.key: draw(values(spec)) for spec in section.fields if spec.key in keys
            }
    return content


def completed(tpl: Template, content: Mapping[str, Mapping[str, FieldValue]]) -> dict[str, dict[str, Any]]:
    """The accepted content with what signing demands filled in (values any nurse could enter)."""
    filled = content_to_json(content)
    for path in missing_fields(tpl, content):
        section_code, key = path.split(".")
        section = tpl.section(section_code)
        assert section is not None
        spec = section.field(key)
        assert spec is not None
        fields = filled.setdefault(section_code, {})
        if key == "diastolic_mmhg":
            fields[key] = min(int(str(fields["systolic_mmhg"])) - 1, 200)
        elif key == "systolic_mmhg":
            fields[key] = max(int(str(fields["diastolic_mmhg"])) + 1, 50)
        elif spec.kind is FieldKind.INTEGER:
            fields[key] = 0
        elif spec.kind is FieldKind.CHOICE:
            fields[key] = spec.choices[0].code
        elif spec.kind is FieldKind.TEXT_LIST:
            fields[key] = ["Texto"]
        else:
            fields[key] = "Texto"
    return filled


def assert_reads_as_stored(note: Note, bundle: Mapping[str, Any]) -> None:
    """Every text field is in its section's narrative exactly as stored (the XHTML parsed back)."""
    tpl = template(note.template)
    composition = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
    )
    shown = {s["title"]: paragraphs(s["text"]["div"]) for s in composition["section"]}
    for section in tpl.sections:
        for spec in section.fields:
            value = note.content.get(section.code, {}).get(spec.key)
            if spec.kind is FieldKind.TEXT and isinstance(value, str):
                assert f"{spec.title_es}: {value}" in shown[section.title_es]


TEMPLATE_CODES = st.sampled_from(list(TemplateCode))


def draft_for(code: TemplateCode) -> Note:
    return new_draft(
        note_id="n1",
        consult_id="c1",
        patient_id="p1",
        template_code=code,
        author_id=NURSE.staff_id,
        author_name=NURSE.full_name,
        at=START,
        amends="n0" if code is TemplateCode.ADDENDUM else None,
    )


def save_then_sign(code: TemplateCode, content: Any, ended: bool) -> None:
    """The property on the pure rules: a save refuses clearly, or the completed draft signs."""
    tpl = template(code)
    try:
        draft = revise(draft_for(code), editor_id=NURSE.staff_id, base_version=1, content=content, at=START)
    except NoteTooLarge:
        event("refused: too large")
        return
    except InvalidNote as refusal:
        # A clear refusal, at save: it names the form field, in both languages.
        [where] = refusal.fields
        assert f"«{where.label_es}»" in refusal.message_es and f"'{where.label_en}'" in refusal.message_en
        event(f"refused: {refusal.code}")
        return
    event("accepted")
    draft = revise(
        draft, editor_id=NURSE.staff_id, base_version=2, content=completed(tpl, draft.content), at=START
    )
    signed = sign(draft, signer_id=NURSE.staff_id, version=3, request_id="r1", at=START + timedelta(hours=1))
    log = session_log("c1")
    amended = (
        AmendedNote("comp-0", "enc-0", TemplateCode.FIRST_CONSULT) if code is TemplateCode.ADDENDUM else None
    )
    bundle = build_bundle(
        SignedConsult(
            signed,
            () if amended else (log if ended else [e for e in log if e.kind is not EventKind.ENDED]),
            PATIENT,
            NURSE,
            ResourceIds("p1", "pr1", "prr1", "o1"),
            "c2VhbA==",  # the seal is records/seal.py's business; any base64 will do here
            "10.0.0.7",
            None if amended else CONSENT,
            amended,
        )
    )
    assert validate_bundle(bundle) == []
    assert_reads_as_stored(signed, bundle)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), code=TEMPLATE_CODES, ended=st.booleans())
def test_any_draft_a_save_accepts_signs_into_a_valid_bundle(
    data: st.DataObject, code: TemplateCode, ended: bool
) -> None:
    save_then_sign(code, data.draw(contents(template(code))), ended)


FIELDS = [
    (tpl.code, section, spec)
    for tpl in TEMPLATES.values()
    for section in tpl.sections
    for spec in section.fields
]


@settings(max_examples=600, deadline=None)
@given(data=st.data(), where=st.sampled_from(FIELDS), ended=st.booleans())
def test_any_text_one_field_accepts_signs(
    data: st.DataObject, where: tuple[TemplateCode, SectionSpec, FieldSpec], ended: bool
) -> None:
    """Each field of each template on its own (about ten tries per field), with what makes its
    resource appear: a referral field in a referral that is needed, so the ServiceRequest is built."""
    code, section, spec = where
    fields = {spec.key: data.draw(values(spec, wrong_types=False))}
    if section.code == "referral" and spec.key != "needed":
        fields["needed"] = True
    save_then_sign(code, {section.code: fields}, ended)


async def test_any_draft_the_repository_saves_it_signs(db_url: str) -> None:
    """The same property through the record store: a real save, a real sign, the stored Bundle."""
    counter = iter(range(10_000))

    async def one(code: TemplateCode, content: dict[str, Any]) -> None:
        engine: AsyncEngine = create_engine(db_url)
        try:
            repo = RecordRepository(engine, signing_key=SIGNING_KEY, clock=Clock())
            ctx = staff_ctx()
            consult_id = f"prop-{next(counter)}"
            await repo.ensure_patient(PATIENT, ctx)
            await repo.grant_care(PATIENT.nss, NURSE.staff_id, consult_id, ctx)
            await SessionLogArchive(engine).store(consult_id, session_log(consult_id))
            main = TemplateCode.FIRST_CONSULT if code is TemplateCode.ADDENDUM else code
            note = await repo.open_draft(
                consult_id=consult_id, patient_nss=PATIENT.nss, template=main, ctx=ctx
            )
            if code is not TemplateCode.ADDENDUM:
                try:
                    note = await repo.save_draft(
                        note.note_id, base_version=note.version, content=content, ctx=ctx
                    )
                except (InvalidNote, NoteTooLarge):
                    return
            tpl = template(main)
            note = await repo.save_draft(
                note.note_id, base_version=note.version, content=completed(tpl, note.content), ctx=ctx
            )
            request = SignRequest(note.note_id, note.version, f"r-{consult_id}", NURSE, CONSENT)
            result = await repo.sign(request, ctx)
            assert validate_bundle(await repo.stored_bundle(note.note_id, ctx)) == []
            assert_reads_as_stored(result.note, await repo.stored_bundle(note.note_id, ctx))
            if code is TemplateCode.ADDENDUM:
                text = content.get("addendum", {}).get("text")
                try:
                    added = await repo.add_addendum(
                        note.note_id, text=text, request_id=f"a-{consult_id}", author=NURSE, ctx=ctx
                    )
                except (InvalidNote, NoteTooLarge, IncompleteNote):
                    return  # refused as a whole (blank text is incomplete), before anything is signed
                bundle = await repo.stored_bundle(added.note.note_id, ctx)
                assert validate_bundle(bundle) == []
                assert_reads_as_stored(added.note, bundle)
        finally:
            await engine.dispose()

    @settings(max_examples=40, deadline=None, database=None)
    @given(data=st.data(), code=TEMPLATE_CODES)
    def check(data: st.DataObject, code: TemplateCode) -> None:
        asyncio.run(one(code, data.draw(contents(template(code)))))

    await asyncio.to_thread(check)


def test_refusals_at_save_name_the_field_for_every_kind_of_refused_character() -> None:
    """Each refused character is refused at save (never first at signing), naming the field."""
    tpl = template(TemplateCode.FOLLOW_UP)
    for char in FORBIDDEN:
        content = {"treatment": {"medications": ["Metformina", f"Insulina {char}"]}}
        try:
            revise(
                draft_for(TemplateCode.FOLLOW_UP),
                editor_id=NURSE.staff_id,
                base_version=1,
                content=content,
                at=START,
            )
        except UnsafeText as refusal:
            assert refusal.fields[0].path == "treatment.medications[1]"
            assert refusal.fields[0].label_es == tpl.sections[4].labels("medications", 1)[0]
            assert refusal.position == 10
        else:
            raise AssertionError(f"U+{ord(char):04X} was not refused")
