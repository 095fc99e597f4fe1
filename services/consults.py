"""The use cases of one consult's room: check in, admit, deny, send back, lock, mute, join, end.

Each method takes the acting person as a :class:`rooms.consult.Actor`, lets ``rooms.consult``
decide, stores the transition with compare-and-set (two nurses acting at once cannot both win),
keeps the waiting room's appointment and queue in step (:class:`services.ports.Lobby`) and
announces the result (:class:`services.ports.LiveRooms`). A refusal is a
:class:`~rooms.errors.DomainError` and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from rooms import call_summary
from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultState, Transition
from rooms.session_log import EventKind, SessionEvent
from rooms.store.base import ConsultStore
from rooms.store.commands import ConsultNotFound, execute
from services.errors import HostingAnotherConsult, NoSuchConsult
from services.ports import AdmittedHook, ConsultEndedHook, LiveRooms, Lobby, NoLobby

logger = logging.getLogger(__name__)


class ConsultService:
    def __init__(
        self,
        *,
        consults: ConsultStore,
        live: LiveRooms,
        clock: Callable[[], datetime],
        lobby: Lobby | None = None,
        on_admitted: AdmittedHook | None = None,
        on_ended: ConsultEndedHook | None = None,
    ) -> None:
        self._consults = consults
        self.live = live
        self._clock = clock
        self._lobby: Lobby = lobby or NoLobby()
        self._on_admitted = on_admitted
        self._on_ended = on_ended

    # -- reading and writing one consult -----------------------------------------------------------

    async def get(self, consult_id: str) -> Consult:
        consult = await self._consults.get(consult_id)
        if consult is None:
            raise NoSuchConsult()
        return consult

    async def execute(self, consult_id: str, command: Callable[[Consult], Transition]) -> Transition:
        """Apply a rule to the stored consult with compare-and-set (retried on a concurrent change)."""
        try:
            return await execute(self._consults, consult_id, command)
        except ConsultNotFound:
            raise NoSuchConsult() from None

    async def publish(self, transition: Transition) -> None:
        """A transition that logged something is news for the consult's pages and lists."""
        if transition.events:
            await self.live.consult_changed(transition.consult)

    # -- the waiting room ------------------------------------------------------------------------------

    async def check_in(self, actor: Actor, consult_id: str, token_id: str | None) -> Consult:
        """The patient, having given consent, enters the waiting room (again, after a reload)."""
        now = self._clock()
        # The room's rules first, then the appointment's window and the service hours.
        rules.check_in(await self.get(consult_id), actor, now)
        await self._lobby.check_in(consult_id, token_id, now)
        transition = await self.execute(consult_id, lambda c: rules.check_in(c, actor, now))
        await self.publish(transition)
        return transition.consult

    async def patient_dropped(self, consult_id: str) -> None:
        """A waiting patient's page lost its connection: they keep their place, out of reach."""
        await self._quietly(self._lobby.dropped(consult_id, self._clock()))

    async def patient_returned(self, consult_id: str) -> None:
        await self._quietly(self._lobby.returned(consult_id))

    async def admit(
        self,
        actor: Actor,
        consult_id: str,
        *,
        host_name: str,
        participant_id: str | None = None,
        hosting: str | None = None,
        address: str = "unknown",
    ) -> Consult:
        """A staff member takes the waiting patient into the call and hosts it; in a live call the
        host admits someone from the lobby again. ``hosting``: the consult she hosts now, if any
        (a host runs one open consult at a time)."""
        if hosting not in (None, consult_id):
            current = await self._consults.get(hosting)
            if current is not None and current.state is not ConsultState.ENDED:
                raise HostingAnotherConsult()
        now = self._clock()
        transition = await self.execute(
            consult_id,
            lambda c: rules.admit(c, actor, now, host_name=host_name, participant_id=participant_id),
        )
        await self.publish(transition)
        consult = transition.consult
        if participant_id in (None, consult.patient_id):
            await self._lobby.admitted(consult_id, actor.participant_id, now)
        if any(event.kind is EventKind.ADMITTED for event in transition.events) and self._on_admitted:
            try:
                await self._on_admitted(consult, address)
            except Exception as error:  # the admission stands; the record refuses her until care is granted
                logger.error(
                    "admission hook for consult %s failed: %s",
                    consult_id,
                    type(error).__name__,
                    extra={"consult_id": consult_id},
                )
        return consult

    async def deny(self, actor: Actor, consult_id: str, target: str) -> Consult:
        """The host refuses a waiting person: told why, their link refused until re-invited."""
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.deny(c, actor, target, now))
        await self.live.turned_away(consult_id, target, "denied")
        await self._quietly(self._lobby.denied(consult_id, target))
        await self.publish(transition)
        return transition.consult

    async def reinvite(self, actor: Actor, consult_id: str, target: str) -> Consult:
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.reinvite(c, actor, target, now))
        await self._quietly(self._lobby.reinvited(consult_id, target))
        await self.publish(transition)
        return transition.consult

    async def send_back(self, actor: Actor, consult_id: str, target: str) -> Consult:
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.send_back(c, actor, target, now))
        if transition.events:
            await self.live.sent_back(consult_id, target)
        await self.publish(transition)
        return transition.consult

    # -- the call ------------------------------------------------------------------------------------

    async def set_lock(self, actor: Actor, consult_id: str, *, locked: bool) -> Consult:
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.lock(c, actor, now, locked=locked))
        await self.publish(transition)
        return transition.consult

    async def request_mute(self, actor: Actor, consult_id: str, target: str) -> None:
        event = rules.request_mute(await self.get(consult_id), actor, target, self._clock())
        await self._consults.append_log(consult_id, [event])
        await self.live.mute_requested(consult_id, actor.participant_id, target)

    async def may_join(self, actor: Actor, consult_id: str, *, receive_only: bool) -> Consult:
        """The rules' answer before any media is touched (a refusal costs no media session)."""
        consult = await self.get(consult_id)
        rules.join(consult, actor, self._clock(), receive_only=receive_only)
        return consult

    async def join(self, actor: Actor, before: Consult, *, receive_only: bool) -> Consult:
        """The participant's media joined. Switching between publishing and watching while in the
        call logs nothing, but the others' view of them changes (``receive_only``)."""
        now = self._clock()
        me = actor.participant_id
        transition = await self.execute(
            before.consult_id, lambda c: rules.join(c, actor, now, receive_only=receive_only)
        )
        if transition.events:
            await self.publish(transition)
        elif me in before.in_call and (me in before.receive_only) != receive_only:
            await self.live.consult_changed(transition.consult)
        return transition.consult

    async def leave(self, actor: Actor, consult_id: str, reason: str) -> Consult:
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.leave(c, actor, now, reason))
        await self.publish(transition)
        return transition.consult

    # -- the end ---------------------------------------------------------------------------------------

    async def end(self, actor: Actor, consult_id: str) -> Consult:
        """The host (before admission: staff of the consult's unit) ends it for everyone."""
        now = self._clock()
        transition = await self.execute(consult_id, lambda c: rules.end(c, actor, now))
        await self.consult_closed(consult_id, now, "ended_by_host")
        return transition.consult

    async def consult_closed(self, consult_id: str, at: datetime, reason: str) -> None:
        """After a consult ended, whoever ended it (its host, a cancellation, a no-show): the
        appointment, the queue and the nurses follow, its pages hear why, the call's quality is
        summarized in its log, and the log is archived."""
        ended = await self._consults.get(consult_id)
        if ended is None:
            return
        await self._quietly(self._lobby.ended(consult_id, ended.host_id, at))
        await self.live.consult_closed(ended, at, reason)
        events = await self._summarize_call(consult_id)
        if self._on_ended is None:
            return
        try:
            await self._on_ended(consult_id, events)
        except Exception as error:  # the live log stays in the room store; archiving can be retried
            logger.error(
                "archiving the session log of consult %s failed: %s",
                consult_id,
                type(error).__name__,
                extra={"consult_id": consult_id},
            )

    async def _summarize_call(self, consult_id: str) -> list[SessionEvent]:
        """The log once the media is closed (its last quality windows in it), with the call's
        ``call_summary`` appended when there was a call (``rooms/call_summary.py``)."""
        events = await self._consults.log(consult_id)
        summary = call_summary.summary_event(consult_id, events, self._clock())
        if summary is not None:
            await self._consults.append_log(consult_id, [summary])
            events.append(summary)
        return events

    async def tell_participant(self, participant_id: str, event: str, payload: dict[str, object]) -> None:
        await self.live.tell_participant(participant_id, event, payload)

    async def publish_queue(self, unit: str, consult_id: str | None = None) -> None:
        """``unit``'s list changed: by ``consult_id``'s change (its row goes to the consoles), or in
        the queue alone (the queue store already told the consoles; dashboards look again)."""
        consult = await self._consults.get(consult_id) if consult_id is not None else None
        if consult is not None:
            await self.live.list_changed(consult)
        elif unit:
            await self.live.queue_changed(unit)

    @staticmethod
    async def _quietly(step: Awaitable[None]) -> None:
        """Waiting-room bookkeeping that must not undo a decision already stored (it is logged)."""
        try:
            await step
        except Exception as error:
            logger.error("waiting-room bookkeeping failed: %s", type(error).__name__, exc_info=error)
