"""The journal of `serve --workers` without --state: a ring in each worker, read through unix sockets.

Each worker appends its entries to a ring in its own memory, so recording a
request costs no write to SQLite. It serves that ring on the unix socket
`journal-<pid>.sock` in the folder that the main process shares with its
workers. A journal call through any worker reads its own ring and queries every other
socket in the folder, so it sees the entries of all workers. Entries are
recorded before the response is sent, so a journal call made after a response
arrived includes that response's entry.

The protocol is one request and one response per message on a connection:
a 4-byte big-endian length, then that many bytes of JSON. Requests are
`{"op": "entries"}`, `{"op": "clear", "session": null or "id"}` and
`{"op": "length"}`, and responses are `{"entries": [[timestamp, entry], ...]}`,
`{"cleared": n}` and `{"length": n}`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Any

from coder_mock.state.base import JournalStorage
from coder_mock.state.memory import MemoryJournalStorage

log = logging.getLogger("coder_mock.state.worker_journal")

SOCKET_PATTERN = "journal-*.sock"
HEADER = struct.Struct(">I")
# How long a query waits for another worker's reply before it leaves that worker out.
PEER_TIMEOUT_SECONDS = 10.0


def socket_path(folder: Path, pid: int) -> Path:
    return folder / f"journal-{pid}.sock"


def send_message(connection: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    connection.sendall(HEADER.pack(len(data)) + data)


def receive_exactly(connection: socket.socket, count: int) -> bytes | None:
    """Read `count` bytes, or return None when the peer closed the connection before the first byte."""
    chunks = bytearray()
    while len(chunks) < count:
        chunk = connection.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            if not chunks:
                return None
            raise ConnectionError(f"connection closed after {len(chunks)} of {count} bytes")
        chunks += chunk
    return bytes(chunks)


def receive_message(connection: socket.socket) -> dict[str, Any] | None:
    """Read one message, or return None when the peer closed the connection between messages."""
    header = receive_exactly(connection, HEADER.size)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    body = receive_exactly(connection, length)
    if body is None:
        raise ConnectionError(f"connection closed before a message of {length} bytes")
    return json.loads(body)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    storage: "WorkerJournalStorage"


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        ring = self.server.storage.ring
        while True:
            try:
                request = receive_message(self.request)
            except (OSError, ValueError) as error:
                log.warning("worker %d: invalid journal request on its socket: %s", os.getpid(), error)
                return
            if request is None:
                return
            operation = request.get("op")
            if operation == "entries":
                reply: dict[str, Any] = {"entries": ring.entries()}
            elif operation == "clear":
                reply = {"cleared": ring.clear(request.get("session"))}
            elif operation == "length":
                reply = {"length": ring.length()}
            else:
                log.warning("worker %d: unknown journal operation %r on its socket", os.getpid(), operation)
                return
            send_message(self.request, reply)


class WorkerJournalStorage(JournalStorage):
    """A journal ring in this process, served on `folder`/journal-<pid>.sock and merged with the other sockets there.

    `size` bounds each ring and the merged result. Creating one starts a
    daemon thread that serves the socket; `close` stops it and removes the file.
    """

    def __init__(self, size: int, folder: Path) -> None:
        super().__init__(size)
        self.folder = folder
        self.ring = MemoryJournalStorage(size)
        self.pid = os.getpid()
        self.path = socket_path(folder, self.pid)
        # A file left by an earlier process with the same pid would make bind fail.
        self.path.unlink(missing_ok=True)
        self._server = _Server(str(self.path), _Handler)
        self._server.storage = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="journal-socket", daemon=True)
        self._thread.start()

    def append(self, timestamp: int, entry: dict[str, Any]) -> None:
        self.ring.append(timestamp, entry)

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        """Return the newest `size` entries of all workers, oldest first, ordered by (timestamp, worker pid)."""
        tagged = [(timestamp, self.pid, entry) for timestamp, entry in self.ring.entries()]
        for pid, reply in self._ask_peers({"op": "entries"}):
            tagged.extend((timestamp, pid, entry) for timestamp, entry in reply["entries"])
        tagged.sort(key=lambda item: (item[0], item[1]))
        del tagged[:max(0, len(tagged) - self.size)]
        return [(timestamp, entry) for timestamp, _, entry in tagged]

    def clear(self, session: str | None = None) -> int:
        cleared = self.ring.clear(session)
        for _, reply in self._ask_peers({"op": "clear", "session": session}):
            cleared += reply["cleared"]
        return cleared

    def length(self) -> int:
        total = self.ring.length()
        for _, reply in self._ask_peers({"op": "length"}):
            total += reply["length"]
        return min(self.size, total)

    def close(self) -> None:
        """Stop serving the socket and remove its file."""
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)

    def _ask_peers(self, request: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """Send `request` to every other worker's socket and return (pid, reply) pairs.

        A socket that refuses the connection belongs to a worker that exited,
        so its file is removed. A worker that fails or does not reply in time
        is left out of this result, with a warning.
        """
        replies = []
        for path in sorted(self.folder.glob(SOCKET_PATTERN)):
            pid_text = path.name[len("journal-"):-len(".sock")]
            if not pid_text.isdigit() or int(pid_text) == self.pid:
                continue
            try:
                reply = self._ask(path, request)
            except (ConnectionRefusedError, FileNotFoundError):
                path.unlink(missing_ok=True)
                continue
            except (OSError, ValueError) as error:
                # NOTE: the result then lacks that worker's entries until it replies again.
                log.warning("worker %d: journal socket %s failed, its entries are left out: %s", self.pid, path,
                            error)
                continue
            replies.append((int(pid_text), reply))
        return replies

    @staticmethod
    def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(PEER_TIMEOUT_SECONDS)
            connection.connect(str(path))
            send_message(connection, request)
            reply = receive_message(connection)
        if reply is None:
            raise ConnectionError("the worker closed the connection without a reply")
        return reply
