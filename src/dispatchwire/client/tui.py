"""`dispatchwire master`: a technician's terminal app on the SDK.

Logs in, starts the shift, shows offers live with a countdown to their deadline, the current
jobs and the connection state (including the fall-back to polling), and takes keys: `a`
accept and `d` decline the selected offer (arrows move the selection), `p` start the job
(`in_progress`), `c` complete it, `q` quit (ending the shift). In English or Russian
(`_i18n.py`).
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
from dispatchwire.client._i18n import Messages
from dispatchwire.client._models import Event, NewOffer, Offer, OfferExpired, Order
from dispatchwire.client._options import Options
from dispatchwire.client._roles import MasterClient
from dispatchwire.client._run import STOP_SIGNALS
from dispatchwire.client._state import State
from dispatchwire.client._terminal import KEY_DOWN, KEY_UP, keys

__all__ = ["MasterApp", "run_master"]

ACTIVE, DONE = ("assigned", "in_progress"), ("completed", "cancelled")
REFRESH_S = 0.5  # the countdown ticks in seconds; half of that keeps it from skipping


STATE_STYLES = {State.CONNECTING: "yellow", State.CONNECTED: "green",
                State.RECONNECTING: "yellow", State.POLLING: "bold red", State.CLOSED: "red"}


def _state_label(state: State, options: Options, messages: Messages) -> tuple[str, str]:
    label = messages(f"state.{state.value}", count=options.poll_interval)
    return label, STATE_STYLES[state]


def _state_line(state: State, options: Options, messages: Messages) -> Text:
    label, style = _state_label(state, options, messages)
    return Text.assemble(messages("connection"), (f"● {label}", style))


def _countdown(offer: Offer) -> str:
    left = max(0, int(offer.seconds_left()))
    return f"{left // 60}:{left % 60:02d}"


class MasterApp:
    """The screen and the keys, on a started MasterClient."""

    def __init__(self, sdk: MasterClient, messages: Messages | None = None) -> None:
        self.sdk = sdk
        self.t = messages or Messages()
        self.jobs: dict[int, Order] = {}
        self.messages: deque[Text] = deque(maxlen=6)
        self.selected = 0
        self.quit = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, console: Console) -> None:
        """Show the screen until `q`, a signal, or the client closing."""
        self.sdk.on_event(self._on_event)
        self.sdk.on_reload(self._reload)
        self.sdk.state.subscribe(self._on_state)
        await self._load_jobs()
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

    async def _load_jobs(self) -> None:
        self.jobs = {order.id: order for order in await self.sdk.orders()
                     if order.status in ACTIVE and order.master_id == self.sdk.user.master_id}

    async def _reload(self) -> None:
        """What the socket missed is gone from the server: the jobs as they are now."""
        await self._load_jobs()
        self.note(self.t("reloaded"), "yellow")

    # -- what happens ------------------------------------------------------------------------

    def note(self, message: str, style: str = "") -> None:
        self.messages.append(Text(message, style))
        self._changed.set()

    def _on_state(self, state: State) -> None:
        if state is State.CLOSED:
            if self.sdk.error is not None:
                self.note(self.t("stopped", error=str(self.sdk.error)), "red")
            self.quit.set()
            return
        # Kept among the messages too: a drop that heals within a refresh still shows.
        self.note(*_state_label(state, self.sdk.options, self.t))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, NewOffer):
            offer, how = event.offer, self.t("offer.byPolling") if event.source == "poll" else ""
            appliance = self.t.words("appliance", offer.appliance_type)
            self.note(self.t("offer.new", id=offer.id, appliance=appliance,
                             address=offer.address) + how, "bold")
        elif isinstance(event, OfferExpired):
            self.note(self.t("offer.expired", id=event.assignment_id), "yellow")
        else:
            self._set_job_status(event.order_id, event.status)
            self.note(self.t("order.status", id=event.order_id,
                             status=self.t.words("status", event.status)))

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
            self.note(self.t("offer.none"), "yellow")
            return
        offer = offers[min(self.selected, len(offers) - 1)]
        try:
            if not accept:
                await self.sdk.decline(offer)
                self.note(self.t("offer.declined", id=offer.id))
                return
            order = await self.sdk.accept(offer)
        except ClientError as exc:
            self.note(self.t("offer.failed", id=offer.id, error=str(exc)), "red")
            return
        if order.status in ACTIVE:
            self.jobs[order.id] = order
        self.note(self.t("offer.accepted", id=offer.id, order=order.id, name=order.client.name,
                         phone=order.client.phone or self.t("noPhone")), "green")

    async def _move(self, current: str, to: str) -> None:
        job = next((order for order in self.jobs.values() if order.status == current), None)
        if job is None:
            self.note(self.t("job.none", status=self.t.words("status", current)), "yellow")
            return
        try:
            order = await self.sdk.set_status(job.id, to)
        except ClientError as exc:
            self.note(self.t("order.failed", id=job.id, error=str(exc)), "red")
            return
        self.jobs[order.id] = order
        self._set_job_status(order.id, order.status)

    # -- the screen --------------------------------------------------------------------------

    def render(self) -> RenderableType:
        user = self.sdk.user
        header = Text.assemble((self.t("title"), "bold"), self.t(
            "header", email=user.email, last=str(self.sdk.last_event_id or "-")))
        return Group(header, _state_line(self.sdk.state.value, self.sdk.options, self.t),
                     self._offers_table(), self._jobs_table(), *self.messages,
                     Text(self.t("help"), "dim"))

    def _offers_table(self) -> Table:
        offers = self.sdk.open_offers
        self.selected = min(self.selected, max(0, len(offers) - 1))
        table = Table(title=self.t("offers"), title_justify="left", expand=True,
                      caption=None if offers else self.t("offers.waiting"))
        table.add_column("")
        for column in ("offer", "order", "appliance", "problem", "address", "answerWithin"):
            table.add_column(self.t(f"col.{column}"))
        for index, offer in enumerate(offers):
            table.add_row(">" if index == self.selected else "", str(offer.id),
                          str(offer.order_id), self.t.words("appliance", offer.appliance_type),
                          offer.problem,
                          offer.address, _countdown(offer),
                          style="reverse" if index == self.selected else None)
        return table

    def _jobs_table(self) -> Table:
        table = Table(title=self.t("jobs"), title_justify="left", expand=True,
                      caption=None if self.jobs else self.t("jobs.none"))
        for column in ("order", "status", "appliance", "address", "client", "phone"):
            table.add_column(self.t(f"col.{column}"))
        for order in self.jobs.values():
            table.add_row(str(order.id), self.t.words("status", order.status),
                          self.t.words("appliance", order.appliance_type), order.address,
                          order.client.name, order.client.phone or "")
        return table


async def run_master(url: str, *, email: str, password: str, options: Options | None = None,
                     console: Console | None = None, lang: str = "en") -> int:
    """Run the app until the master quits; the exit status."""
    console = console or Console()
    messages = Messages(lang)
    sdk = MasterClient(url, email=email, password=password, options=options)
    app = MasterApp(sdk, messages)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:  # SIGHUP: the terminal closed; the shift ends all the same
        loop.add_signal_handler(signum, app.quit.set)
    try:
        await sdk.start()
    except ClientError as exc:
        console.print(Text(messages("failed", error=str(exc)), "red"))
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
        console.print(messages("shiftEnded" if sdk.options.manage_shift else "bye"))
    return 0 if sdk.error is None else 1
