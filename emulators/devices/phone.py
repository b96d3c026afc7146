"""A phone that receives SMS codes and voice calls.

The server's carrier delivers to it: :meth:`Phone.receive_sms` and :meth:`Phone.receive_call` (a voice
call keeps its transcript, what the voice said). :attr:`Phone.inbox` lists the messages newest first,
each with the time it arrived by the injected clock and a read flag, and :meth:`Phone.latest_code`
picks out the newest 6-digit code, written together (``123456``) or read out digit by digit
(``1, 2, 3, 4, 5, 6``).

:meth:`Message.to_wav` speaks a voice call's transcript into a WAV file with the ``espeak-ng``
program, where it is installed; the transcript is the call's content either way. The text goes to the
program on its standard input, never on a command line another user could list.

The screen shows the number and how many messages are unread; ``OK`` opens the newest message and then
each older one, the digits ``1`` to ``9`` open the n-th newest, ``BACK`` or ``PRESS`` go back. Opening
a message marks it read. Message texts are never logged.
"""

from __future__ import annotations

import enum
import random
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from tokensim.emulators.base import Device, StateReader
from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import DeviceError, InvalidParameter
from tokensim.protocol.provisioning import Provisioning

__all__ = ["ESPEAK", "Message", "MessageKind", "Phone", "find_code"]

#: The speech synthesiser :meth:`Message.to_wav` runs.
ESPEAK = "espeak-ng"
# Seconds espeak-ng may take for one transcript before we give up on it.
_ESPEAK_TIMEOUT = 60

_TOGETHER = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Digits read out one by one, separated by spaces, commas or dashes.
_SPOKEN = re.compile(r"\d(?:[ ,\-]+\d)*")


def find_code(text: str) -> str | None:
    """The first 6-digit code in ``text``: six digits together, or six digits read out one by one.

    Example:
        >>> find_code("Your code is 123456. It expires in 10 minutes.")
        '123456'
        >>> find_code("Your code is 4, 0, 7, 1, 1, 9. Again: 4, 0, 7, 1, 1, 9.")
        '407119'
        >>> find_code("no code here, just 12345") is None
        True
    """
    together = _TOGETHER.search(text)
    if together is not None:
        return together.group()
    for run in _SPOKEN.finditer(text):
        digits = re.sub(r"\D", "", run.group())
        if len(digits) == 6:
            return digits
    return None


class MessageKind(enum.StrEnum):
    """How a message arrived."""

    SMS = "sms"
    VOICE = "voice"


@dataclass(frozen=True, slots=True)
class Message:
    """One SMS or voice call in the inbox.

    Attributes:
        id: its number on this phone, counting from 1.
        kind: SMS or voice call.
        sender: the number or name it came from.
        text: the SMS text, or what the voice said (the transcript).
        received_at: Unix time it arrived, by the phone's clock.
        read: whether it has been opened.
        sent_at: Unix time the network says it was sent (an SMS's service-centre time stamp), when
            known; phones show this one.
    """

    id: int
    kind: MessageKind
    sender: str
    text: str
    received_at: float
    read: bool = False
    sent_at: float | None = None

    @property
    def code(self) -> str | None:
        """The 6-digit code in the text, if any (see :func:`find_code`)."""
        return find_code(self.text)

    def to_wav(self, path: str | Path) -> Path:
        """Speak a voice call's transcript into a WAV file with espeak-ng.

        Args:
            path: where to write the WAV file.

        Returns:
            The path written.

        Raises:
            DeviceError: the message is not a voice call, espeak-ng is not installed, or it failed.
        """
        if self.kind is not MessageKind.VOICE:
            raise DeviceError("only a voice call has audio")
        program = shutil.which(ESPEAK)
        if program is None:
            raise DeviceError(f"{ESPEAK} is not installed, so there is no audio; the transcript is the call")
        target = Path(path)
        try:
            subprocess.run(  # noqa: S603 - a fixed argument list; the text goes on stdin
                [program, "-w", str(target), "--stdin"],
                input=self.text.encode(),
                check=True,
                capture_output=True,
                timeout=_ESPEAK_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as e:
            # The error names the program and its status only: the transcript holds a code.
            raise DeviceError(f"{ESPEAK} failed to write {target}: {type(e).__name__}") from None
        return target

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this message (the phone's saved state)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "sender": self.sender,
            "text": self.text,
            "received_at": self.received_at,
            "read": self.read,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Message:
        """Read a message back from :meth:`to_json`.

        Raises:
            InvalidParameter: a key is missing or has the wrong type.
        """
        state = StateReader(data, "message")
        return cls(
            id=state.integer("id"),
            kind=MessageKind(state.choice("kind", tuple(kind.value for kind in MessageKind))),
            sender=state.text("sender"),
            text=state.text("text"),
            received_at=state.number("received_at"),
            read=state.flag("read"),
            sent_at=state.optional_number("sent_at"),
        )

    def __repr__(self) -> str:
        # The text holds codes: never let a repr carry it into a log.
        return f"Message(id={self.id}, kind={self.kind.value!r}, sender={self.sender!r}, read={self.read})"


class Phone(Device):
    """A phone number's handset: an inbox of SMS and voice calls.

    Args:
        provisioning: a ``phone`` provisioning with its ``number``.
        clock: where the phone reads the time messages arrive.
        rng: unused by the phone; kept for the common contract.

    Raises:
        InvalidParameter: the provisioning has no number.
    """

    kind: ClassVar[str] = "phone"

    def __init__(
        self, provisioning: Provisioning, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        super().__init__(provisioning, clock=clock, rng=rng)
        if not provisioning.number:
            raise InvalidParameter("a phone needs its 'number'")
        self._number = provisioning.number
        self._messages: list[Message] = []  # oldest first
        self._viewing: int | None = None  # the id of the message on screen

    @property
    def number(self) -> str:
        """The phone number."""
        return self._number

    @property
    def inbox(self) -> list[Message]:
        """Every message, newest first."""
        return self._messages[::-1]

    def receive_sms(self, sender: str, text: str, *, sent_at: float | None = None) -> Message:
        """An SMS arrives now; ``sent_at`` is the network's time stamp of its sending, when known.

        Raises:
            InvalidParameter: the sender is empty.
        """
        return self._receive(MessageKind.SMS, sender, text, sent_at)

    def receive_call(self, sender: str, transcript: str, *, sent_at: float | None = None) -> Message:
        """A voice call arrives now; ``transcript`` is what the voice says, ``sent_at`` when it was placed.

        Raises:
            InvalidParameter: the sender is empty.
        """
        return self._receive(MessageKind.VOICE, sender, transcript, sent_at)

    def latest_code(self) -> str | None:
        """The 6-digit code of the newest message that has one, or ``None``."""
        for message in reversed(self._messages):
            code = message.code
            if code is not None:
                return code
        return None

    def read_message(self, message_id: int) -> Message:
        """Open a message, marking it read.

        Raises:
            InvalidParameter: no message has that id.
        """
        for position, message in enumerate(self._messages):
            if message.id == message_id:
                opened = replace(message, read=True)
                self._messages[position] = opened
                return opened
        raise InvalidParameter(f"no message {message_id} on this phone")

    def _receive(self, kind: MessageKind, sender: str, text: str, sent_at: float | None) -> Message:
        if not sender:
            raise InvalidParameter("a message needs a sender")
        next_id = self._messages[-1].id + 1 if self._messages else 1
        message = Message(next_id, kind, sender, text, self._clock.now(), sent_at=sent_at)
        self._messages.append(message)
        return message

    def _render(self, now: float) -> str:
        if self._viewing is not None:
            for message in self._messages:
                if message.id == self._viewing:
                    heading = "SMS" if message.kind is MessageKind.SMS else "Voice call"
                    return f"{heading} from {message.sender}\n{message.text}"
        unread = sum(1 for message in self._messages if not message.read)
        return f"{self._number}\n{len(self._messages)} messages, {unread} unread"

    def _press(self, key: str, now: float) -> None:
        newest_first = self.inbox
        if key in ("BACK", "PRESS"):
            self._viewing = None
        elif key == "OK":
            ids = [message.id for message in newest_first]
            if self._viewing is None:
                position = 0
            else:
                position = ids.index(self._viewing) + 1 if self._viewing in ids else len(ids)
            self._viewing = None
            if position < len(ids):
                self._viewing = self.read_message(ids[position]).id
        elif self._viewing is None and key != "0" and int(key) <= len(newest_first):
            self._viewing = self.read_message(newest_first[int(key) - 1].id).id

    def _state(self) -> dict[str, Any]:
        return {"messages": [message.to_json() for message in self._messages], "viewing": self._viewing}

    def _restore(self, state: StateReader) -> None:
        self._messages = [Message.from_json(item) for item in state.items("messages")]
        ids = [message.id for message in self._messages]
        if ids != sorted(set(ids)):
            raise InvalidParameter("phone state: message ids must rise")
        viewing = state.data.get("viewing")
        if viewing is not None and (
            not isinstance(viewing, int) or isinstance(viewing, bool) or viewing not in ids
        ):
            raise InvalidParameter("phone state: 'viewing' names no message")
        self._viewing = viewing
