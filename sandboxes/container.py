"""One hardened container running the interpreter, and the JSON-line channel attached to its stdin/stdout.

Everything here that talks to Docker is blocking and is called through `asyncio.to_thread`. The
attach stream is read by its own thread from the moment it exists (an unread stream makes Docker's
kill and remove hang), frames are demultiplexed, and complete lines are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from agentoss.errors import SandboxError

__all__ = [
    "LABEL",
    "Channel",
    "ContainerConfig",
    "LaunchedContainer",
    "ProtocolViolation",
    "create_volume",
    "decode_reply",
    "launch",
    "remove",
    "reply_limit",
]

LABEL = "agentoss.sandbox"
"""Every container and volume we create carries this label (plus the owner pid), so leaks can be reaped."""
SANDBOX_UID = "65534:65534"
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest file `get_file` transfers (the relay refuses larger ones)."""
FILE_REPLY_BYTES = MAX_FILE_BYTES * 4 // 3 + 8192
"""Longest legitimate reply to a file request (base64 of the largest file, plus the fields)."""
CONTROL_REPLY_BYTES = 1 << 20
"""Longest legitimate reply to put/list and the start-up line (a listing of many names)."""
CUT_NOTE_BYTES = 128


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """The resource limits of one sandbox container."""

    memory_mb: int = 1024
    """Memory limit; swap is disabled (memory+swap equals memory)."""
    cpus: float = 1.0
    """CPU quota in cores."""
    pids_limit: int = 128
    """Maximum number of processes and threads in the container (fork and thread bombs stop here)."""
    data_mb: int = 256
    """Size of the tmpfs holding `/mnt/data`."""
    tmp_mb: int = 64
    """Size of the noexec tmpfs at `/tmp`."""
    nofile: int = 1024
    """Open file descriptors per process."""
    fsize_mb: int = 256
    """Largest file a process may write."""
    output_limit: int = 32 * 1024
    """Bytes of output kept per execution inside the container (first and last halves)."""


def labels(kind: str) -> dict[str, str]:
    return {LABEL: kind, f"{LABEL}.pid": str(os.getpid()), f"{LABEL}.host": socket.gethostname()}


class ProtocolViolation(SandboxError):
    """The sandbox sent something the protocol does not allow (malformed, oversized, unexpected)."""


class Channel:
    """The attached stdin/stdout of one container: send a JSON line, await the next reply line.

    The reader thread scans only newly arrived bytes and refuses a line longer than the limit the
    current request allows (`expect`); past it the channel is broken for good and the container must
    be replaced. It keeps reading (and dropping) until the stream ends, so Docker never blocks on it.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._raw: socket.socket = sock._sock
        self._lock = threading.Lock()
        self._lines: collections.deque[bytes] = collections.deque()
        self._waiter: tuple[asyncio.Future[bytes], asyncio.AbstractEventLoop] | None = None
        self._eof = False
        self.limit = CONTROL_REPLY_BYTES
        self.broken = ""
        self.stderr_tail = b""
        self._sending: asyncio.Future[None] | None = None
        """A long line still being written by a thread (its sender may have been cancelled)."""
        threading.Thread(target=self._read, name="sandbox-attach", daemon=True).start()

    def expect(self, limit: int) -> None:
        """Allow the next reply line to be at most `limit` bytes."""
        self.limit = limit

    def _read(self) -> None:
        frames = bytearray()
        line = bytearray()
        try:
            while True:
                chunk = self._raw.recv(262144)
                if not chunk:
                    break
                if self.broken:
                    continue
                frames += chunk
                while len(frames) >= 8:
                    stream, size = frames[0], struct.unpack(">I", frames[4:8])[0]
                    if len(frames) < 8 + size:
                        break
                    payload = bytes(frames[8 : 8 + size])
                    del frames[: 8 + size]
                    if stream != 1:
                        self.stderr_tail = (self.stderr_tail + payload)[-4096:]
                        continue
                    self._take(line, payload)
                    if self.broken:
                        frames.clear()
                        line.clear()
                        break
        except OSError:
            pass
        self._finish()

    def _take(self, line: bytearray, payload: bytes) -> None:
        scanned = len(line)
        line += payload
        while True:
            index = line.find(b"\n", scanned)
            if index < 0:
                break
            if index > self.limit:
                break
            self._deliver(bytes(line[:index]))
            del line[: index + 1]
            scanned = 0
        if len(line) > self.limit:
            self.broken = f"a reply longer than {self.limit} bytes"
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            self._eof = True
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter[1].call_soon_threadsafe(self._resolve, waiter[0], b"")

    def _deliver(self, line: bytes) -> None:
        with self._lock:
            waiter, self._waiter = self._waiter, None
            if waiter is None:
                self._lines.append(line)
                return
        waiter[1].call_soon_threadsafe(self._resolve, waiter[0], line)

    def _resolve(self, future: asyncio.Future[bytes], line: bytes) -> None:
        if future.done():  # the receiver timed out meanwhile: keep the line for the next receive
            if line:
                with self._lock:
                    self._lines.appendleft(line)
            return
        future.set_result(line)

    async def receive(self, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        """The next reply, None at end of stream; `TimeoutError` when none arrives in time.

        `ProtocolViolation` when the line is not a JSON object or the channel broke on an oversized line.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._lines:
                return decode_reply(self._lines.popleft())
            if self._eof:
                self._check_broken()
                return None
            future: asyncio.Future[bytes] = loop.create_future()
            self._waiter = (future, loop)
        try:
            line = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock:
                if self._waiter is not None and self._waiter[0] is future:
                    self._waiter = None
            raise
        if not line:
            self._check_broken()
            return None
        return decode_reply(line)

    def _check_broken(self) -> None:
        if self.broken:
            raise ProtocolViolation(f"the sandbox sent {self.broken}")

    async def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        previous = self._sending
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # lines never interleave
        try:
            if len(data) < 65536:
                self._raw.sendall(data)  # fits the socket buffer: does not block
            else:
                # Shielded: a cancelled caller's line still goes out whole (the caller recorded it as
                # pending), so the relay never sees half a request and the reply can be collected.
                sending = asyncio.ensure_future(asyncio.to_thread(self._raw.sendall, data))
                sending.add_done_callback(_retrieve)
                self._sending = sending
                await asyncio.shield(sending)
        except OSError as exc:
            raise SandboxError(f"sandbox stdin closed: {exc}") from exc

    def close(self) -> None:
        try:
            self._raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a background send's error as seen (its reply wait reports the broken channel)."""
    if not future.cancelled():
        future.exception()


def decode_reply(line: bytes) -> dict[str, Any]:
    """One reply line as a JSON object; anything else is a `ProtocolViolation`."""
    try:
        message = json.loads(line)
    except ValueError:
        raise ProtocolViolation("the sandbox sent a reply that is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolViolation("the sandbox sent a reply that is not a JSON object")
    return message


def reply_limit(output_limit: int) -> int:
    """The longest exec reply the relay can legitimately send for this output limit (base64 + fields)."""
    return (output_limit + CUT_NOTE_BYTES) * 4 // 3 + 8192


@dataclass(slots=True)
class LaunchedContainer:
    """A started container and its channel."""

    container_id: str
    channel: Channel
    volume: str
    started_at: float


def create_volume(client: Any, config: ContainerConfig) -> str:
    """A size-limited tmpfs volume for `/mnt/data` (blocking). It outlives a container restart."""
    name = f"agentoss-data-{uuid.uuid4().hex[:16]}"
    options = f"size={config.data_mb}m,uid=65534,gid=65534,mode=0700,nosuid,nodev,noexec"
    try:
        client.api.create_volume(
            name,
            driver="local",
            driver_opts={"type": "tmpfs", "device": "tmpfs", "o": options},
            labels=labels("volume"),
        )
    except Exception as exc:
        raise SandboxError(f"cannot create the data volume: {exc}") from exc
    return name


def launch(client: Any, image: str, volume: str, config: ContainerConfig) -> LaunchedContainer:
    """Create, attach and start one hardened interpreter container (blocking)."""
    from docker.types import LogConfig, Mount, Ulimit

    api = client.api
    host_config = api.create_host_config(
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={config.tmp_mb}m"},
        shm_size=16 * 1024 * 1024,
        ipc_mode="private",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        mem_limit=f"{config.memory_mb}m",
        memswap_limit=f"{config.memory_mb}m",
        pids_limit=config.pids_limit,
        nano_cpus=int(config.cpus * 1e9),
        ulimits=[
            Ulimit(name="nofile", soft=config.nofile, hard=config.nofile),
            Ulimit(name="fsize", soft=config.fsize_mb << 20, hard=config.fsize_mb << 20),
            Ulimit(name="core", soft=0, hard=0),
        ],
        init=False,  # the relay is the init process: it alone holds the container's stdio
        log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
        mounts=[Mount(target="/mnt/data", source=volume, type="volume")],
    )
    try:
        created = api.create_container(
            image,
            user=SANDBOX_UID,
            stdin_open=True,
            tty=False,
            network_disabled=True,
            hostname="sandbox",
            working_dir="/mnt/data",
            stop_signal="SIGKILL",
            labels=labels("container"),
            environment={
                "AGENTOSS_OUTPUT_HEAD": str(config.output_limit // 2),
                "AGENTOSS_OUTPUT_TAIL": str(config.output_limit - config.output_limit // 2),
            },
            host_config=host_config,
        )
        container_id = created["Id"]
    except Exception as exc:
        raise SandboxError(f"cannot create the sandbox container: {exc}") from exc
    try:
        sock = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        channel = Channel(sock)
        api.start(container_id)
    except Exception as exc:
        remove(client, container_id)
        raise SandboxError(f"cannot start the sandbox container: {exc}") from exc
    return LaunchedContainer(container_id, channel, volume, time.monotonic())


def remove(client: Any, container_id: str) -> None:
    """Kill and remove a container, ignoring one that is already gone (blocking)."""
    try:
        client.api.remove_container(container_id, force=True)
    except Exception:
        pass


def remove_volume(client: Any, volume: str) -> None:
    """Remove a data volume, ignoring one that is gone or still in use (the reaper retries those)."""
    try:
        client.api.remove_volume(volume, force=True)
    except Exception:
        pass


def oom_killed(client: Any, container_id: str) -> bool:
    """True when the kernel killed the container for exceeding its memory limit."""
    try:
        state = client.api.inspect_container(container_id)["State"]
    except Exception:
        return False
    return bool(state.get("OOMKilled"))
