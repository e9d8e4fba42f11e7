"""Running one script: a private file, its own process group, captured output.

:class:`LogBuffer` holds the output that the server has not acknowledged yet,
bounded in size, and knows the server's byte offset so that shipping can be
checked and resumed. :class:`Execution` starts the script and feeds the
buffer, and can kill the whole process group.
"""

import codecs
import contextlib
import errno
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time


# Stream offsets count the bytes of the UTF-8 encoding of the text received.
ENCODING = "utf-8"
_CONTINUATION = 0b1100_0000


def _char_boundary(data: bytes | bytearray, index: int) -> int:
    """Move ``index`` forward to the start of a UTF-8 character."""
    while index < len(data) and data[index] & _CONTINUATION == 0b1000_0000:
        index += 1
    return index


def _boundary_before(data: bytes | bytearray, index: int) -> int:
    """Move ``index`` back to the start of a UTF-8 character."""
    index = min(index, len(data))
    while 0 < index < len(data) and data[index] & _CONTINUATION == 0b1000_0000:
        index -= 1
    return index


def drop_marker(dropped: int) -> bytes:
    return (
        f"\n[jobrunner-worker: {dropped} bytes of output dropped here: "
        f"the log was too big to keep]\n"
    ).encode(ENCODING)


class LogBuffer:
    """Output not yet acknowledged by the server, and the server's offset.

    ``server_length`` is how many bytes the server has acknowledged; the
    pending bytes follow at that offset. At most one chunk is in flight; when
    the buffer grows past ``max_bytes`` the oldest pending output that is not
    in flight is dropped, cut at a character boundary, and a marker saying how
    much was dropped takes its place (merged with an earlier marker that has
    not been sent yet).

    Thread safe: the process's reader appends while the shipper sends.
    """

    def __init__(self, max_bytes: int = 1024 * 1024):
        self.max_bytes = max_bytes
        self.server_length = 0
        self.total_bytes = 0  # all output seen
        self.dropped_bytes = 0
        self._pending = bytearray()
        self._in_flight = 0
        # The drop markers still in the buffer, as (start, length, bytes each
        # stands for), in order. A marker is forgotten only once the server
        # has acknowledged it: a chunk that did not arrive is pending again,
        # and its marker must still count as a marker, not as output.
        self._markers: list[tuple[int, int, int]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def append(self, text: str) -> None:
        # PostgreSQL text cannot hold NUL; a log is for people anyway.
        data = text.replace("\x00", "\ufffd").encode(ENCODING)
        with self._lock:
            self.total_bytes += len(data)
            self._pending += data
            self._trim()

    def _trim(self) -> None:
        excess = len(self._pending) - self.max_bytes
        if excess <= 0:
            return
        start = self._in_flight
        # Drop a little more than needed, so that the marker fits too and a
        # fast writer does not make us rebuild the marker for every line.
        end = min(
            len(self._pending), _char_boundary(self._pending, start + excess + 256)
        )
        if end <= start:
            return
        # Markers in the dropped stretch merge into the new one, which then
        # counts the output they stood for; a marker that the stretch cuts
        # into is taken whole. Markers in flight, before ``start``, stay.
        merged = [m for m in self._markers if m[0] + m[1] > start and m[0] < end]
        if merged:
            end = max(end, merged[-1][0] + merged[-1][1])
        dropped = (end - start) - sum(m[1] for m in merged)
        stands_for = dropped + sum(m[2] for m in merged)
        self.dropped_bytes += dropped
        marker = drop_marker(stands_for)
        self._pending[start:end] = marker
        shift = len(marker) - (end - start)
        self._markers = (
            [m for m in self._markers if m[0] + m[1] <= start]
            + [(start, len(marker), stands_for)]
            + [(m[0] + shift, m[1], m[2]) for m in self._markers if m[0] >= end]
        )

    def take(self, max_bytes: int) -> tuple[int, str] | None:
        """Mark the next chunk as in flight; return ``(offset, text)`` or None."""
        with self._lock:
            if self._in_flight or not self._pending:
                return None
            end = _boundary_before(self._pending, max_bytes)
            for marker_start, marker_length, _ in self._markers:
                if marker_start < end < marker_start + marker_length:
                    # Send a marker whole, in this chunk or the next one.
                    end = marker_start or marker_start + marker_length
            if end == 0:  # one character longer than max_bytes
                end = _char_boundary(self._pending, 1)
            self._in_flight = end
            return self.server_length, self._pending[:end].decode(ENCODING)

    def release(self) -> None:
        """The chunk in flight did not arrive; it is pending again."""
        with self._lock:
            self._in_flight = 0

    def acknowledge(self, length: int) -> None:
        """The server now has ``length`` bytes (after a 202, or a 416 that
        says it already took the chunk in flight)."""
        with self._lock:
            received = length - self.server_length
            self._in_flight = 0
            if 0 <= received <= len(self._pending):
                end = _char_boundary(self._pending, received)
                del self._pending[:end]
                self._markers = [
                    (start - end, size, count)
                    for start, size, count in self._markers
                    if start >= end
                ]
            self.server_length = length

    def note_gap(self, server_length: int) -> None:
        """The server has less than it acknowledged (it lost output): carry on
        from its length, after a line saying that output is missing."""
        with self._lock:
            lost = self.server_length - server_length
            self._in_flight = 0
            self.server_length = server_length
            note = (
                f"\n[jobrunner-worker: {lost} bytes of output were lost "
                f"between the worker and the server]\n"
            ).encode(ENCODING)
            self._pending[0:0] = note
            self._markers = [(m[0] + len(note), m[1], m[2]) for m in self._markers]

    def text(self) -> str:
        """Everything pending (all of the output when nothing was shipped)."""
        with self._lock:
            return self._pending.decode(ENCODING)


class ExecError(Exception):
    """The script could not be started."""


def write_script(folder: str, run_id: int, content: str) -> str:
    """Write a script to a new private file (mode 0700) and return its path."""
    fd, path = tempfile.mkstemp(prefix=f"jobrunner-run-{run_id}-", dir=folder)
    try:
        os.fchmod(fd, 0o700)
        if not content.startswith("#!"):
            # Without an interpreter line exec fails; the seed's scripts were
            # shell scripts, so that is the default.
            content = "#!/bin/sh\n" + content
        os.write(fd, content.encode(ENCODING))
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    return path


class Execution:
    """A script running in its own process group, its output read into a buffer."""

    # How long to keep reading after the script exits, for output that its
    # background children still write to the shared pipe.
    DRAIN_SECONDS = 2.0

    def __init__(
        self,
        path: str,
        buffer: LogBuffer,
        env: dict | None = None,
        cwd: str | None = None,
    ):
        self.path = path
        self.buffer = buffer
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._reader: threading.Thread | None = None
        self._stop_reading = threading.Event()
        self._exited = threading.Event()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> int:
        """Start the script; return its pid."""
        for attempt in range(20):
            try:
                self.process = subprocess.Popen(  # noqa: S603 -- the job's own script
                    [self.path],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=self.env,
                    cwd=self.cwd,
                )
                break
            except OSError as error:
                # NOTE: another thread's fork can briefly hold the script's
                # write descriptor open, and exec then fails with ETXTBSY.
                if error.errno == errno.ETXTBSY and attempt < 19:
                    time.sleep(0.05)
                    continue
                raise ExecError(f"cannot start the script: {error}") from error
        self._reader = threading.Thread(
            target=self._read, name=f"reader-{self.process.pid}", daemon=True
        )
        self._reader.start()
        return self.process.pid

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder(ENCODING)(errors="replace")
        stream = self.process.stdout
        fd = stream.fileno()
        os.set_blocking(fd, False)
        deadline = None
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not self._stop_reading.is_set():
                if deadline is None and self._exited.is_set():
                    deadline = time.monotonic() + self.DRAIN_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    self.buffer.append(
                        "\n[jobrunner-worker: stopped reading output; processes "
                        "the script left behind still hold it open]\n"
                    )
                    break
                if not selector.select(timeout=0.2):
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    break
                self.buffer.append(decoder.decode(data))
        tail = decoder.decode(b"", final=True)
        if tail:
            self.buffer.append(tail)
        stream.close()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the script (and the reading of its output); its exit status."""
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._exited.set()
        self._reader.join()
        return self.returncode

    def signal_group(self, signum: int) -> bool:
        """Send a signal to the script's process group; False if it is gone."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def kill(self, grace_period: float) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace_period``, reap."""
        if self.process is None:
            return None
        self.signal_group(signal.SIGTERM)
        status = self.wait(grace_period)
        if status is None:
            self.signal_group(signal.SIGKILL)
            status = self.wait()
        # Children that ignored SIGTERM may outlive the script itself.
        self.signal_group(signal.SIGKILL)
        return status

    def cleanup(self) -> None:
        self._stop_reading.set()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def describe_status(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit status {status}"
