"""The phone: SMS and voice calls, the inbox, code extraction, audio, the screen, saved state."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.emulators import create, load
from tokensim.emulators.devices.phone import ESPEAK, Message, MessageKind, Phone, find_code
from tokensim.protocol import DeviceError, DeviceKind, FixedClock, InvalidParameter, Provisioning

START = 1_700_000_000.0


def make(clock: FixedClock) -> Phone:
    return Phone(Provisioning(kind=DeviceKind.PHONE, serial="phone-1", number="+15550100"), clock=clock)


def test_messages_arrive_newest_first_with_the_clock_time(clock: FixedClock) -> None:
    phone = make(clock)
    assert phone.number == "+15550100"
    assert phone.inbox == []
    phone.receive_sms("IBKR", "Your code is 111111")
    clock.advance(90)
    phone.receive_call("+18005550199", "Your code is 2, 2, 2, 3, 3, 3.")
    [call, sms] = phone.inbox
    assert (call.id, call.kind, call.sender, call.received_at, call.read) == (
        2,
        MessageKind.VOICE,
        "+18005550199",
        START + 90,
        False,
    )
    assert call.kind == "voice"
    assert (sms.id, sms.kind, sms.text, sms.received_at) == (1, "sms", "Your code is 111111", START)
    assert call.text == "Your code is 2, 2, 2, 3, 3, 3."  # the transcript is kept word for word


def test_latest_code_is_the_newest_message_with_a_code(clock: FixedClock) -> None:
    phone = make(clock)
    assert phone.latest_code() is None
    phone.receive_sms("IBKR", "Your code is 123456")
    assert phone.latest_code() == "123456"
    phone.receive_call("IBKR", "Your security code is 6, 5, 4, 3, 2, 1. Again: 6, 5, 4, 3, 2, 1.")
    assert phone.latest_code() == "654321"
    phone.receive_sms("Mum", "call me back")
    assert phone.latest_code() == "654321"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Your code is 123456.", "123456"),
        ("123456 is your code", "123456"),
        ("code:000042", "000042"),
        ("1234567 is too long, 12345 too short", None),
        ("Your code is 9 8 7 6 5 4", "987654"),
        ("Your code is 9-8-7-6-5-4", "987654"),
        ("Call 555 0100 about code 1, 2, 3, 4, 5, 6", "123456"),
        ("", None),
    ],
)
def test_find_code(text: str, code: str | None) -> None:
    assert find_code(text) == code


@given(code=st.text("0123456789", min_size=6, max_size=6), spoken=st.booleans())
def test_any_code_is_found_written_or_spoken(code: str, spoken: bool) -> None:
    text = ", ".join(code) if spoken else code
    assert find_code(f"Your IBKR security code is {text}. It expires in 10 minutes.") == code


def test_reading_marks_a_message_read(clock: FixedClock) -> None:
    phone = make(clock)
    phone.receive_sms("IBKR", "Your code is 123456")
    opened = phone.read_message(1)
    assert opened.read
    assert phone.inbox[0].read
    with pytest.raises(InvalidParameter):
        phone.read_message(2)


def test_message_repr_never_carries_the_text(clock: FixedClock) -> None:
    phone = make(clock)
    message = phone.receive_sms("IBKR", "Your code is 123456")
    assert "123456" not in repr(message)
    assert "123456" not in repr(phone)


def test_the_screen_counts_unread_and_opens_messages(clock: FixedClock) -> None:
    phone = make(clock)
    assert phone.screen == "+15550100\n0 messages, 0 unread"
    phone.press("OK")  # nothing to open
    assert phone.screen == "+15550100\n0 messages, 0 unread"
    phone.receive_sms("IBKR", "Your code is 111111")
    phone.receive_call("IBKR", "Your code is 2 2 2 2 2 2")
    phone.receive_sms("Bank", "hello")
    assert phone.screen == "+15550100\n3 messages, 3 unread"
    phone.press("OK")
    assert phone.screen == "SMS from Bank\nhello"
    phone.press("OK")
    assert phone.screen == "Voice call from IBKR\nYour code is 2 2 2 2 2 2"
    phone.press("BACK")
    assert phone.screen == "+15550100\n3 messages, 1 unread"
    phone.press("3")
    assert phone.screen == "SMS from IBKR\nYour code is 111111"
    phone.press("OK")  # past the oldest: back home
    assert phone.screen == "+15550100\n3 messages, 0 unread"
    phone.press("9")  # no ninth message
    phone.press("0")
    assert phone.screen == "+15550100\n3 messages, 0 unread"
    phone.press("1")
    phone.press("PRESS")
    assert phone.screen == "+15550100\n3 messages, 0 unread"


def test_save_and_load_keep_the_inbox_and_the_open_message(clock: FixedClock) -> None:
    phone = make(clock)
    phone.receive_sms("IBKR", "Your code is 123456")
    phone.receive_call("IBKR", "Your code is 6 5 4 3 2 1")
    phone.press("2")
    copy = load(json.loads(json.dumps(phone.save())), clock=clock)
    assert isinstance(copy, Phone)
    assert copy.save() == phone.save()
    assert copy.inbox == phone.inbox
    assert copy.screen == phone.screen == "SMS from IBKR\nYour code is 123456"
    assert copy.receive_sms("x", "y").id == 3


@pytest.mark.parametrize(
    "damage",
    [
        {"viewing": 7},
        {"viewing": True},
        {"messages": [{"id": 1, "kind": "fax", "sender": "a", "text": "", "received_at": 0, "read": False}]},
        {
            "messages": [
                {"id": "1", "kind": "sms", "sender": "a", "text": "", "received_at": 0, "read": False}
            ]
        },
    ],
)
def test_damaged_state_is_refused(clock: FixedClock, damage: dict[str, object]) -> None:
    saved = make(clock).save()
    saved["state"].update(damage)
    with pytest.raises(InvalidParameter):
        load(saved)


def test_a_phone_needs_a_number_and_messages_a_sender(clock: FixedClock) -> None:
    with pytest.raises(InvalidParameter):
        create(Provisioning(kind=DeviceKind.PHONE, serial="p"))
    with pytest.raises(InvalidParameter):
        make(clock).receive_sms("", "text")


# Audio.


def test_only_a_voice_call_has_audio(clock: FixedClock, tmp_path: Path) -> None:
    sms = make(clock).receive_sms("IBKR", "Your code is 123456")
    with pytest.raises(DeviceError, match="only a voice call"):
        sms.to_wav(tmp_path / "x.wav")


def test_without_espeak_there_is_a_clear_error_and_the_transcript(
    clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    call = make(clock).receive_call("IBKR", "Your code is 1 2 3 4 5 6")
    with pytest.raises(DeviceError, match="espeak-ng is not installed") as error:
        call.to_wav(tmp_path / "call.wav")
    assert "1 2 3" not in str(error.value)
    assert call.code == "123456"


def _fake_espeak(folder: Path, exit_status: int) -> Path:
    """A stand-in espeak-ng that records its arguments and standard input, then writes a tiny WAV."""
    folder.mkdir()
    script = folder / ESPEAK
    script.write_text(
        f"""#!{sys.executable}
import sys, wave
args = sys.argv[1:]
text = sys.stdin.read()
open(args[args.index("-w") + 1] + ".seen", "w").write(repr((args, text)))
with wave.open(args[args.index("-w") + 1], "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(22050); out.writeframes(bytes(200))
sys.exit({exit_status})
""",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_the_transcript_goes_to_espeak_on_stdin_not_the_command_line(
    clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_fake_espeak(tmp_path / "bin", 0)) + os.pathsep + os.environ["PATH"])
    call = make(clock).receive_call("IBKR", "Your code is 4 0 7 1 1 9")
    target = call.to_wav(tmp_path / "call.wav")
    assert target == tmp_path / "call.wav"
    args, text = eval(Path(str(target) + ".seen").read_text())  # noqa: S307 - our own repr
    assert text == "Your code is 4 0 7 1 1 9"
    assert all("4 0 7" not in arg for arg in args)
    assert "--stdin" in args


def test_a_failing_espeak_is_a_device_error_without_the_transcript(
    clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_fake_espeak(tmp_path / "bin", 3)))
    call = make(clock).receive_call("IBKR", "Your code is 4 0 7 1 1 9")
    with pytest.raises(DeviceError) as error:
        call.to_wav(tmp_path / "call.wav")
    assert "4 0 7" not in str(error.value)


def test_espeak_writes_real_audio_where_it_is_installed(clock: FixedClock, tmp_path: Path) -> None:
    if shutil.which(ESPEAK) is None:
        pytest.skip(f"{ESPEAK} is not installed on this machine; the transcript tests above still ran")
    call = make(clock).receive_call("IBKR", "Your security code is 1, 2, 3, 4, 5, 6.")
    path = call.to_wav(tmp_path / "call.wav")
    with wave.open(str(path)) as audio:
        assert audio.getnframes() > audio.getframerate() // 2  # at least half a second of speech
    assert isinstance(call, Message)
