"""`dispatchwire master`: a technician's terminal app on the SDK.

Logs in, starts the shift, shows offers live with a countdown to their deadline, the current
jobs and the connection state (including the fall-back to polling), and takes keys: `a`
accept and `d` decline the selected offer (arrows move the selection), `p` start the job
(`in_progress`), `c` complete it, `q` quit (ending the shift).
"""

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Coroutine
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dispatchwire.client._errors import ClientError
from dispatchwire.client._models import Event, NewOffer, Offer, OfferExpired, Order
from dispatchwire.client._options import Options
from dispatchwire.client._roles import MasterClient
from dispatchwire.client._run import STOP_SIGNALS
from dispatchwire.client._state import State
from dispatchwire.client._terminal import KEY_DOWN, KEY_UP, keys

__all__ = ["MasterApp", "run_master"]

HELP = "a accept · d decline · ↑/↓ select · p start job · c complete job · q quit"
ACTIVE, DONE = ("assigned", "in_progress"), ("completed", "cancelled")
REFRESH_S = 0.5  # the countdown ticks in seconds; half of that keeps it from skipping


def _state_label(state: State, options: Options) -> tuple[str, str]:
    return {
        State.CONNECTING: ("connecting ...", "yellow"),
        State.CONNECTED: ("connected: offers come live", "green"),
        State.RECONNECTING: ("socket down: reconnecting ...", "yellow"),
        State.POLLING: (f"socket down: polling every {options.poll_interval:g} s", "bold red"),
        State.CLOSED: ("closed", "red"),
    }[state]


def _state_line(state: State, options: Options) -> Text:
    label, style = _state_label(state, options)
    return Text.assemble("connection: ", (f"● {label}", style))


def _countdown(offer: Offer) -> str:
    left = max(0, int(offer.seconds_left()))
    return f"{left // 60}:{left % 60:02d}"


class MasterApp:
    """The screen and the keys, on a started MasterClient."""

    def __init__(self, sdk: MasterClient) -> None:
        self.sdk = sdk
        self.jobs: dict[int, Order] = {}
        self.messages: deque[Text] = deque(maxlen=6)
        self.selected = 0
        self.quit = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, console: Console) -> None:
        """Show the screen until `q`, a signal, or the client closing."""
        self.sdk.on_event(self._on_event)
        self.sdk.state.subscribe(self._on_state)
        for order in await self.sdk.orders():
            if order.status in ACTIVE and order.master_id == self.sdk.user.master_id:
                self.jobs[order.id] = order
        with keys(self._on_key), Live(self.render(), console=console,
                                      auto_refresh=False) as live:
            while not self.quit.is_set():
                live.update(self.render(), refresh=True)
                with contextlib.suppress(TimeoutError):  # not wait_for: it may eat a cancel
                    async with asyncio.timeout(REFRESH_S):
                        await self._changed.wait()
                self._changed.clear()
            live.update(self.render(), refresh=True)
        for task in self._tasks:
            task.cancel()

    # -- what happens ------------------------------------------------------------------------

    def note(self, message: str, style: str = "") -> None:
        self.messages.append(Text(message, style))
        self._changed.set()

    def _on_state(self, state: State) -> None:
        if state is State.CLOSED:
            if self.sdk.error is not None:
                self.note(f"stopped: {self.sdk.error}", "red")
            self.quit.set()
            return
        # Kept among the messages too: a drop that heals within a refresh still shows.
        self.note(*_state_label(state, self.sdk.options))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, NewOffer):
            offer, how = event.offer, " (found by polling)" if event.source == "poll" else ""
            self.note(f"new offer {offer.id}: {offer.appliance_type} at {offer.address}{how}",
                      "bold")
        elif isinstance(event, OfferExpired):
            self.note(f"offer {event.assignment_id} expired or was withdrawn", "yellow")
        else:
            self._set_job_status(event.order_id, event.status)
            self.note(f"order {event.order_id} is now {event.status}")

    def _set_job_status(self, order_id: int, status: str) -> None:
        job = self.jobs.get(order_id)
        if status in DONE:
            self.jobs.pop(order_id, None)
        elif job is not None:
            self.jobs[order_id] = dataclasses.replace(job, status=status)

    def _on_key(self, key: str) -> None:
        if key in ("q", "Q"):
            self.quit.set()
        elif key in (KEY_UP, "k"):
            self.selected = max(0, self.selected - 1)
        elif key in (KEY_DOWN, "j"):
            self.selected += 1
        elif key in ("a", "d"):
            self._spawn(self._answer(accept=key == "a"))
        elif key in ("p", "c"):
            self._spawn(self._move(*(("assigned", "in_progress") if key == "p"
                                     else ("in_progress", "completed"))))
        self._changed.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, *, accept: bool) -> None:
        offers = self.sdk.open_offers
        if not offers:
            self.note("no offer to answer", "yellow")
            return
        offer = offers[min(self.selected, len(offers) - 1)]
        try:
            if not accept:
                await self.sdk.decline(offer)
                self.note(f"declined offer {offer.id}")
                return
            order = await self.sdk.accept(offer)
        except ClientError as exc:
            self.note(f"offer {offer.id}: {exc}", "red")
            return
        if order.status in ACTIVE:
            self.jobs[order.id] = order
        self.note(f"accepted offer {offer.id}: order {order.id}, call {order.client.name} at "
                  f"{order.client.phone or '(no phone)'}", "green")

    async def _move(self, current: str, to: str) -> None:
        job = next((order for order in self.jobs.values() if order.status == current), None)
        if job is None:
            self.note(f"no job is {current}", "yellow")
            return
        try:
            order = await self.sdk.set_status(job.id, to)
        except ClientError as exc:
            self.note(f"order {job.id}: {exc}", "red")
            return
        self.jobs[order.id] = order
        self._set_job_status(order.id, order.status)

    # -- the screen --------------------------------------------------------------------------

    def render(self) -> RenderableType:
        user = self.sdk.user
        header = Text.assemble(("dispatchwire master", "bold"), f" · {user.email} · last event "
                               f"{self.sdk.last_event_id or '-'}")
        return Group(header, _state_line(self.sdk.state.value, self.sdk.options),
                     self._offers_table(), self._jobs_table(), *self.messages,
                     Text(HELP, "dim"))

    def _offers_table(self) -> Table:
        offers = self.sdk.open_offers
        self.selected = min(self.selected, max(0, len(offers) - 1))
        table = Table(title="Offers", title_justify="left", expand=True,
                      caption=None if offers else "waiting for offers ...")
        for column in ("", "offer", "order", "appliance", "problem", "address", "answer within"):
            table.add_column(column)
        for index, offer in enumerate(offers):
            table.add_row(">" if index == self.selected else "", str(offer.id),
                          str(offer.order_id), offer.appliance_type, offer.problem,
                          offer.address, _countdown(offer),
                          style="reverse" if index == self.selected else None)
        return table

    def _jobs_table(self) -> Table:
        table = Table(title="Jobs", title_justify="left", expand=True,
                      caption=None if self.jobs else "no job in hand")
        for column in ("order", "status", "appliance", "address", "client", "phone"):
            table.add_column(column)
        for order in self.jobs.values():
            table.add_row(str(order.id), order.status, order.appliance_type, order.address,
                          order.client.name, order.client.phone or "")
        return table


async def run_master(url: str, *, email: str, password: str, options: Options | None = None,
                     console: Console | None = None) -> int:
    """Run the app until the master quits; the exit status."""
    console = console or Console()
    sdk = MasterClient(url, email=email, password=password, options=options)
    app = MasterApp(sdk)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:  # SIGHUP: the terminal closed; the shift ends all the same
        loop.add_signal_handler(signum, app.quit.set)
    try:
        await sdk.start()
    except ClientError as exc:
        console.print(f"[red]dispatchwire master: {exc}[/red]")
        return 1
    try:
        await app.run(console)
    except OSError:  # the terminal is gone (a hang-up): nothing left to draw on
        pass
    finally:
        await sdk.close()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    with contextlib.suppress(OSError):
        console.print("shift ended" if sdk.options.manage_shift else "bye")
    return 0 if sdk.error is None else 1
