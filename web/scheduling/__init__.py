"""The REST face of appointments, service hours and the unit queues (JSON), one module per seam.

Who may call what (``web/access.py`` says it once for every route):

* anyone: ``GET /api/service-hours`` and ``GET /api/slots`` (:mod:`.calendar`; nothing personal);
* staff (nurse, physician or coordinator) **of the unit**: book, reschedule and cancel its
  appointments (:mod:`.appointments`), read its queue, take its next patient (:mod:`.queue`).
  Staff of another unit get ``403``;
* a signed-in nurse: her own state (``PUT /api/nurses/me/state``, :mod:`.queue`);
* the host of a consult: a follow-up for its patient (:mod:`.follow_up`);
* the patient, with the join token of their link in ``Authorization: Bearer`` (never in the URL,
  so it reaches no access log): their place in the queue (:mod:`.position`).

Every refusal is a 4xx ``{"error": {"code", "message"}}`` with the message in Spanish and English,
and changes nothing. :mod:`.routes` wires them to the live side.
"""
