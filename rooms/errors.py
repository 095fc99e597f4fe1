"""The one exception type the domain raises when a request breaks a rule.

A :class:`DomainError` carries a stable machine ``code`` (clients and tests match on it; it never
changes once published) and the same explanation in Spanish and English, because most patients
read Spanish first and the layer that shows the message should not have to translate domain
rules. Each rule defines a small subclass next to the rule, with its code in ``CODE``, so callers
can catch one kind (``except SlotTaken``) or all of them (``except DomainError``). A few rule
sets refuse for several reasons with one class (a consult's :class:`~rooms.consult.RuleViolation`,
:class:`~rooms.interunit.InterunitError`, :class:`~rooms.tokens.TokenError`): they list their
codes in ``CODES``. The edges map codes to an HTTP status or a socket error with one table each.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A request the rules do not allow; nothing was changed.

    The messages are for people; never parse them. Match on ``code``.
    """

    CODE: ClassVar[str] = "domain_error"

    def __init__(self, code: str, message_es: str, message_en: str) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_es = message_es
        self.message_en = message_en

    def message(self, language: str) -> str:
        """The message in ``language``; Spanish (the program's language) unless English is asked for."""
        return self.message_en if language == "en" else self.message_es

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message_es": self.message_es, "message_en": self.message_en}

    def detail(self) -> dict[str, str]:
        """Small facts a client can act on (e.g. ``opens_at``: when to come back); none by default."""
        return {}
