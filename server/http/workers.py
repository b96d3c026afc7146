"""``tokensim serve --workers N``: N server processes, each accepting on a listening socket of its own.

uvicorn's own supervisor binds one socket in the parent and hands it to every worker, so all workers
wait on one accept queue, and the kernel wakes the worker that waited last: a burst of new
connections (a client's connection pool opening at once) lands on a single worker while the others
idle. On the 2-core benchmark machine, 32 connections opened together all went to one of two
workers, every time. Here each worker binds its own socket with ``SO_REUSEPORT``, and the kernel
spreads new connections over the workers' queues by a hash of the connection's addresses.

The supervisor starts the workers, starts another when one dies (a crash or ``kill -9`` of a
worker), and on SIGINT or SIGTERM stops them all (each finishes its requests in flight). Where the
platform has no ``SO_REUSEPORT`` (Windows), or the port is 0 (any free port, which would give each
worker a different one), ``tokensim serve`` uses uvicorn's supervisor instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from tokensim.protocol.errors import InvalidParameter

__all__ = ["check_free", "own_sockets_possible", "run_server", "serve_workers"]

_log = logging.getLogger(__name__)
#: How often the supervisor looks for a worker that died.
_WATCH_SECONDS = 0.5
#: How long a worker has to finish its requests after SIGTERM before it is killed.
_STOP_SECONDS = 30.0


def own_sockets_possible(port: int) -> bool:
    """Whether the workers can each listen on ``port`` with a socket of their own."""
    return hasattr(socket, "SO_REUSEPORT") and port != 0


def serve_workers(config: uvicorn.Config, workers: int) -> None:
    """Run ``workers`` server processes until SIGINT or SIGTERM.

    Raises:
        InvalidParameter: the address is taken (by another program, or another tokensim server).
    """
    check_free(config.host, config.port)
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    processes = [_start(context, config) for _ in range(workers)]
    try:
        while not stopping.wait(_WATCH_SECONDS):
            for i, process in enumerate(processes):
                if not process.is_alive():
                    _log.warning(
                        "server process %s ended (exit %s); starting another", process.pid, process.exitcode
                    )
                    processes[i] = _start(context, config)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _start(context: multiprocessing.context.SpawnContext, config: uvicorn.Config) -> BaseProcess:
    process = context.Process(target=_worker, args=(config,), name="tokensim-worker")
    process.start()
    return process


def _worker(config: uvicorn.Config) -> None:
    """One server process: its own listening socket, then uvicorn's server on it."""
    uvicorn.Server(config).run(sockets=[_listen(config)])


def _listen(config: uvicorn.Config) -> socket.socket:
    listener = _reuse_port_socket(config.host)
    listener.bind((config.host, config.port))
    listener.listen(config.backlog)
    return listener


def _reuse_port_socket(host: str) -> socket.socket:
    """A TCP socket for ``host`` that may share its port with the other workers' sockets."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    created = socket.socket(family, socket.SOCK_STREAM)
    created.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    created.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return created


def run_server(config: uvicorn.Config) -> int:
    """Run one server process, or ``config.workers`` under uvicorn's supervisor; return the exit status.

    What :func:`uvicorn.run` does with a configuration it builds itself, here with one built by the
    caller (so it may carry tokensim's limits, :mod:`tokensim.server.http.limits`).
    """
    from uvicorn.supervisors import Multiprocess

    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server.run()
    # uvicorn logged why it could not start (the address was taken after the check, say).
    return 0 if server.started else 3


def check_free(host: str, port: int) -> None:
    """Refuse an address that is taken, before the server prints or creates anything.

    Raises:
        InvalidParameter: another server answers there, or the address cannot be bound.
    """
    # SO_REUSEPORT lets a second tokensim server (same user) join the first one's port silently, so
    # a port that already answers is refused; a port held by another program fails the bind.
    if _answers(host, port):
        raise InvalidParameter(f"{host}:{port} is in use: another server answers there")
    with _reuse_port_socket(host) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise InvalidParameter(f"cannot listen on {host}:{port}: {e.strerror}") from e


def _answers(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (a wildcard host is tried on loopback)."""
    target = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False
