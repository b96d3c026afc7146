"""Helpers of the concurrency tests: two services on one database, and calls started all at once.

Each backend runs with two :class:`Service` instances on one database, each with its own connection
pool, standing in for two server processes; :func:`race` starts its calls on threads that wait at a
barrier, so they reach the database together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from tokensim.emulators import Device, create
from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.emulators.devices.phone import find_code
from tokensim.protocol.clock import FixedClock
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.carrier import ReadableCarrier
from tokensim.server.service import Service

from .conftest import NO_ENV, PASSWORD, fast_config

THREADS = 12
T = TypeVar("T")


@pytest.fixture(name="services", params=["sqlite", "postgresql"])
def two_services(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[tuple[Service, Service]]:
    """The ``services`` fixture: two services on one SQLite or PostgreSQL database, a connection a thread.

    A test module imports it to use it there.
    """
    config = fast_config(tmp_path / "data", db_pool_size=THREADS)
    if request.param == "postgresql":
        config = config.replace(database_url=request.getfixturevalue("postgres_schema_url"))
    first = Service.open(config, clock=clock, environ=NO_ENV)
    second = Service.open(config, clock=clock, environ=NO_ENV)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def race(calls: Sequence[Callable[[], T]]) -> tuple[list[T], list[BaseException]]:
    """Run every call on its own thread, all released at once; return what they returned and raised."""
    barrier = threading.Barrier(len(calls))
    wins: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            result = call()
        except BaseException as e:  # every outcome is collected and checked by the test
            with lock:
                errors.append(e)
        else:
            with lock:
                wins.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins, errors


def enroll(service: Service, kind: str) -> tuple[str, Device]:
    """Make ``alice`` with an active device of ``kind`` (PIN 1234 where it has one): its id and emulator."""
    service.users.create_user("alice", PASSWORD)
    enrollment = service.enrollment.enroll("alice", kind, pin=None if kind == "scc" else "1234")
    service.enrollment.activate_without_proof(enrollment.device.id)
    assert enrollment.provisioning is not None
    return enrollment.device.id, create(enrollment.provisioning, clock=service.core.clock)


def enroll_ib_key(service: Service, number: str = "+15550100") -> tuple[str, IbKeyApp]:
    """Make ``alice`` with an IB Key activated by its app (PIN 1234), as the phone would: its id and app.

    The activation token is read from the outbox the server texted it to.
    """
    service.users.create_user("alice", PASSWORD, phones=[number])
    enrollment = service.enrollment.enroll("alice", "ib-key", number=number)
    carrier = service.core.carrier
    assert isinstance(carrier, ReadableCarrier)
    [text] = [entry.text for entry in carrier.messages(to=number)]
    token = find_code(text)
    assert token is not None, "the activation text has no token"
    app = create(Provisioning(kind=DeviceKind.IB_KEY, serial="phone"), clock=service.core.clock)
    assert isinstance(app, IbKeyApp)
    provisioning = service.ib_key_activation.activate_ib_key(app.begin_activation("alice", token, pin="1234"))
    app.complete_activation("alice", provisioning)
    return enrollment.device.id, app
