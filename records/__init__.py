"""The clinical record store: session logs and, from signed notes, HL7 FHIR resources.

Depends on ``rooms`` for its value types only; never on ``signaling`` or ``media``.
"""
