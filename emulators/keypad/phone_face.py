"""The phone's face: its SMS inbox and voice-call transcripts, newest first, new messages highlighted.

Messages come from the server's carrier outbox through the
:class:`~tokensim.emulators.keypad.backend.PortalBackend` and are delivered into the
:class:`~tokensim.emulators.devices.phone.Phone` device, which keeps them (in the state file, like a
real handset keeps its texts). The face only shows the phone's inbox: an unread message is highlighted
until it is clicked, which opens it on the phone (marking it read). The last outbox message taken is
bookmarked in the :class:`~tokensim.emulators.keypad.store.DeviceStore`, so each message arrives once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Label, Static

from tokensim.emulators.devices.phone import Message, MessageKind, Phone
from tokensim.emulators.keypad.backend import CarrierMessage, Connection
from tokensim.emulators.keypad.calls import call_backend
from tokensim.emulators.keypad.device_view import device_title
from tokensim.emulators.keypad.store import DeviceStore

__all__ = ["InboxEntry", "PhoneFace", "deliver"]


def deliver(phone: Phone, messages: Sequence[CarrierMessage]) -> int:
    """Hand carrier messages to the phone, oldest first; return how many arrived.

    Args:
        phone: the handset.
        messages: what the outbox returned (already only those after the phone's bookmark).
    """
    for message in sorted(messages, key=lambda m: m.seq):
        if message.channel == "voice":
            phone.receive_call(message.sender, message.text, sent_at=message.sent_at)
        else:
            phone.receive_sms(message.sender, message.text, sent_at=message.sent_at)
    return len(messages)


class InboxEntry(Static):
    """One message of the inbox; click it to open it (and mark it read).

    Args:
        message: the phone's message.
    """

    class Opened(TextualMessage):
        """The user clicked a message.

        Args:
            message_id: the phone's id of the message.
        """

        def __init__(self, message_id: int) -> None:
            super().__init__()
            self.message_id = message_id

    def __init__(self, message: Message) -> None:
        # When the server sent it (as a phone shows an SMS's time stamp), not when the keypad fetched it.
        sent = message.received_at if message.sent_at is None else message.sent_at
        when = datetime.fromtimestamp(sent, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        what = "SMS" if message.kind is MessageKind.SMS else "Voice call"
        text = Text()
        text.append(f"{what} from {message.sender}", style="bold")
        text.append(f"  {when}" + ("  NEW" if not message.read else ""))
        text.append("\n" + ("Transcript: " if message.kind is MessageKind.VOICE else "") + message.text)
        super().__init__(text, id=f"message-{message.id}", classes="inbox-entry", markup=False)
        self.message_id = message.id
        self.set_class(not message.read, "-new")

    def on_click(self, event: Click) -> None:
        """Open this message on the phone."""
        event.stop()
        self.post_message(self.Opened(self.message_id))


class PhoneFace(Widget):
    """The phone: a check-messages button and the inbox.

    Args:
        device: the phone.
        connection: the server whose carrier outbox the phone reads.
        store: keeps the bookmark of the last outbox message taken.
        poll_seconds: how often to check for messages by itself; never when ``None``.
        id: the widget id.
    """

    #: How many messages the phone holds (mirrored after each change).
    count: reactive[int] = reactive(0, init=False)
    #: How many of them are unread.
    unread: reactive[int] = reactive(0, init=False)

    def __init__(
        self,
        device: Phone,
        connection: Connection,
        store: DeviceStore,
        *,
        poll_seconds: float | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="face phone-face")
        self.device = device
        self.connection = connection
        self.store = store
        self._poll_seconds = poll_seconds
        self._checking = False

    @property
    def cursor_name(self) -> str:
        """The store's bookmark for this phone's outbox."""
        return f"phone:{self.device.number}"

    def compose(self) -> ComposeResult:
        """The title, the status line, the check button and the inbox."""
        yield Label(device_title(self.device), classes="face-title")
        with Horizontal(classes="row"):
            yield Static(id="phone-status", classes="phone-status", markup=False)
            yield Button("Check messages", id="phone-check")
            yield Button("Mark all read", id="phone-read-all")
        yield Static(id="phone-note", classes="result", markup=False)
        yield Vertical(id="inbox", classes="inbox")

    async def on_mount(self) -> None:
        """Show the inbox; start polling when asked to."""
        await self.show_inbox()
        if self._poll_seconds is not None and self.connection.available:
            self.set_interval(self._poll_seconds, self.check)

    async def show_inbox(self) -> None:
        """Rebuild the inbox from the phone, newest first."""
        inbox = self.device.inbox
        self.count = len(inbox)
        self.unread = sum(1 for message in inbox if not message.read)
        self.query_one("#phone-status", Static).update(
            f"{self.device.number}: {self.count} messages, {self.unread} unread"
        )
        box = self.query_one("#inbox", Vertical)
        await box.remove_children()
        if inbox:
            await box.mount_all([InboxEntry(message) for message in inbox])
        else:
            await box.mount(Label("No messages yet.", classes="empty"))

    @on(Button.Pressed, "#phone-check")
    def check(self) -> None:
        """Ask the carrier's outbox for messages to this phone."""
        if self._checking:
            return
        try:
            backend = self.connection.get()
        except Exception as e:
            self._note(str(e), error=True)
            return
        self._checking = True
        after = self.store.cursor(self.cursor_name)
        number = self.device.number
        call_backend(self, lambda: backend.outbox(number, after=after), self._arrived, self._failed)

    async def _arrived(self, messages: Sequence[CarrierMessage]) -> None:
        self._checking = False
        fresh = [m for m in messages if m.seq > self.store.cursor(self.cursor_name)]
        count = deliver(self.device, fresh)
        if fresh:
            self.store.set_cursor(self.cursor_name, max(m.seq for m in fresh))
            await self.show_inbox()
        self._note(f"{count} new message{'s' if count != 1 else ''}")

    def _failed(self, message: str) -> None:
        self._checking = False
        self._note(message, error=True)

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#phone-note", Static)
        note.update(text)
        note.set_class(error, "-error")

    @on(InboxEntry.Opened)
    async def _opened(self, event: InboxEntry.Opened) -> None:
        self.device.read_message(event.message_id)
        await self.show_inbox()

    @on(Button.Pressed, "#phone-read-all")
    async def read_all(self) -> None:
        """Open every unread message (marking them read)."""
        for message in self.device.inbox:
            if not message.read:
                self.device.read_message(message.id)
        await self.show_inbox()
