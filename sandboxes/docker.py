"""`DockerSandbox`: a stateful python session in one hardened container, with timeouts and restarts.

The container runs `interpreter.py` under an init process as uid 65534 with no network, a read-only
root, all capabilities dropped and hard resource limits (see `container.launch`). Code is sent as a
JSON line over the attached stdin. A call that overruns its timeout is interrupted (SIGINT, forwarded
by the init process); if no reply follows within a grace period the container is replaced, the model
is told its state was lost, and `/mnt/data` (a tmpfs volume) is carried over to the new container.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from agentoss.sandboxes.base import ExecResult, ProgramResult, normalize_data_path
from agentoss.sandboxes.container import (
    CONTROL_REPLY_BYTES,
    FILE_REPLY_BYTES,
    MAX_FILE_BYTES,
    ContainerConfig,
    LaunchedContainer,
    ProtocolViolation,
    create_volume,
    oom_killed,
    remove_volume,
    reply_limit,
)
from agentoss.sandboxes.image import default_image, docker_client, image_exists
from agentoss.sandboxes.output import DEFAULT_OUTPUT_LIMIT, clean_output
from agentoss.sandboxes.session import discard_session, open_session

from agentoss.errors import SandboxError, SandboxUnavailableError

if TYPE_CHECKING:
    from agentoss.sandboxes.pool import WarmPool

__all__ = ["DockerSandbox", "open_session"]

logger = logging.getLogger(__name__)

CUT_MARKER_SLACK = 128
FILE_TIMEOUT_S = 60.0


class DockerSandbox:
    """One session's hardened container (or a fresh container per call when `stateless`).

    In stateless mode the session container still exists but only holds `/mnt/data` and serves files;
    each `execute` runs in a new container that mounts the same data volume and is removed after.
    """

    def __init__(
        self,
        image: str | None = None,
        *,
        stateless: bool = False,
        memory_mb: int = 1024,
        cpus: float = 1.0,
        pids_limit: int = 128,
        data_mb: int = 256,
        tmp_mb: int = 64,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        interrupt_grace_s: float = 2.0,
        pool: WarmPool | None = None,
    ) -> None:
        self.image = image
        self.stateless = stateless
        self.config = ContainerConfig(
            memory_mb=memory_mb,
            cpus=cpus,
            pids_limit=pids_limit,
            data_mb=data_mb,
            tmp_mb=tmp_mb,
            output_limit=output_limit,
        )
        self.interrupt_grace_s = interrupt_grace_s
        self.pool = pool
        self._client: Any = None
        self._session: LaunchedContainer | None = None
        self._volume: str | None = None
        self._lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._pending: str | None = None
        """The id of a request whose reply was not collected (its caller was cancelled)."""
        self._pending_deadline: float | None = None
        """When that reply is due at the latest (loop time); None: within the interrupt grace."""
        self._state_lost = False
        """A file request or program replaced the container: the next `execute` says state was lost."""
        self.listing_cut = False
        """The last `list_files` hit the relay's size cap: more files exist than it returned."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def container_id(self) -> str | None:
        """The id of the running container (None before start, after close, or between stateless calls)."""
        return self._session.container_id if self._session else None

    async def start(self) -> None:
        self._check_open()
        if self._started:
            return
        async with self._start_lock:  # concurrent first calls start one container, not two
            if not self._started:
                await self._start()
                self._started = True

    async def _start(self) -> None:
        if self.pool is not None:
            await self.pool.start()
            self._client, self.image, self.config = self.pool.client, self.pool.image, self.pool.config
            self._session = await self.pool.acquire()
            self._volume = self._session.volume
            return
        self._client = await asyncio.to_thread(docker_client)
        self.image = self.image or default_image()
        if not await asyncio.to_thread(image_exists, self._client, self.image):
            self._client = None
            raise SandboxUnavailableError(
                f"sandbox image {self.image} is missing. Fix: agentoss sandbox build"
            )
        self._volume = await asyncio.to_thread(create_volume, self._client, self.config)
        # Stateless sessions keep one idle container too: it holds the tmpfs volume mounted between
        # calls (an unmounted tmpfs loses its files) and serves the file requests.
        self._session = await self._open()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the sandbox is closed")

    async def _open(self) -> LaunchedContainer:
        """A new interpreter container on this session's image, config and data volume."""
        assert self.image is not None
        return await open_session(self._client, self.image, self.config, self._volume)

    async def execute(self, code: str, *, timeout: float) -> ExecResult:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        await self.start()
        async with self._lock:
            self._check_open()
            if self.stateless:
                session = await self._open()
                try:
                    return await self._run(session, code, timeout, stateless=True)
                finally:
                    await discard_session(self._client, session, keep_volume=True)
            lost = await self._settle() or self._state_lost
            self._state_lost = False
            if self._session is None:
                self._session = await self._open()
            session = self._session
            try:
                result = await self._run(session, code, timeout, stateless=False)
            except asyncio.CancelledError:
                # The caller gave up (e.g. the agent's own tool timeout). Interrupt the cell now; the
                # next request first collects its reply, so the channel never gets out of step.
                self._background(asyncio.to_thread(self._interrupt, session.container_id))
                raise
            self._pending = None
            self._state_lost = False  # a replacement during this call was reported in its own result
            if lost:
                note = "[The previous execution was cancelled and could not be stopped (or the sandbox "
                note += "misbehaved); the python process was restarted and all variables and imports "
                note += "were lost.]\n"
                result = dataclasses.replace(result, output=note + result.output, state_lost=True)
            return result

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self) -> bool:
        """Collect the reply of a cancelled execution (replacing a container that never answers).

        Returns True when the interpreter had to be replaced, i.e. the session's state was lost.
        """
        pending, self._pending = self._pending, None
        deadline, self._pending_deadline = self._pending_deadline, None
        if pending is None or self._session is None:
            return False
        session = self._session
        wait = self.interrupt_grace_s
        if deadline is not None:
            wait = max(wait, deadline - asyncio.get_running_loop().time())
        try:
            reply = await self._reply(session, pending, wait)
        except (TimeoutError, ProtocolViolation):
            await self._replace(session, stateless=False)
            return True
        if reply is None:
            await self._replace(session, stateless=False, dead=True)
            return True
        return False

    async def _run(
        self,
        session: LaunchedContainer,
        code: str,
        timeout: float,  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        *,
        stateless: bool,
    ) -> ExecResult:
        limit = reply_limit(self.config.output_limit)
        # Interrupted when its caller is cancelled, so its reply is due within the grace period.
        nonce = await self._request(session, {"op": "exec", "code": code}, limit, track=not stateless)
        interrupted = False
        try:
            try:
                reply = await self._reply(session, nonce, timeout)
            except TimeoutError:
                interrupted = True
                await asyncio.to_thread(self._interrupt, session.container_id)
                reply = await self._reply(session, nonce, self.interrupt_grace_s)
            raw = base64.b64decode(str(reply.get("output", "")), validate=True) if reply else b""
        except ProtocolViolation as exc:
            self._pending = None
            await self._replace(session, stateless=stateless)
            return ExecResult(
                output=f"[The sandbox broke its protocol ({exc}); the python process was killed and "
                "restarted: all variables and imports are lost. Files in /mnt/data were kept.]",
                state_lost=True,
                error=True,
            )
        except TimeoutError:
            self._pending = None
            await self._replace(session, stateless=stateless)
            return ExecResult(
                output=f"[Execution timed out after {timeout:g} seconds and did not stop when "
                "interrupted; the python process was killed and restarted: all variables and "
                "imports are lost. Files in /mnt/data were kept.]",
                timed_out=True,
                state_lost=True,
                error=True,
            )
        if reply is None and self._closed:
            return ExecResult(
                output="[The sandbox was closed during the execution.]", error=True, state_lost=True
            )
        if reply is None:
            out_of_memory = await asyncio.to_thread(oom_killed, self._client, session.container_id)
            await self._replace(session, stateless=stateless, dead=True)
            cause = f"ran out of memory (limit {self.config.memory_mb} MB)" if out_of_memory else "died"
            return ExecResult(
                output=f"[The python process {cause}; it was restarted and all variables, imports and "
                "files in /mnt/data are lost.]",
                state_lost=True,
                error=True,
            )
        # The relay already cut the output (with its own marker); the host cut is a second bound.
        output = clean_output(raw, self.config.output_limit + CUT_MARKER_SLACK)
        if not reply.get("ok", False):
            output += f"\n[{reply.get('message', 'interpreter error')}]"
        state_lost = bool(reply.get("state_lost"))
        if state_lost and reply.get("oom"):
            output += f"\n[The python process ran out of memory (limit {self.config.memory_mb} MB).]"
        if state_lost:
            output += "\n[Files in /mnt/data were kept.]"
        if interrupted:
            output += f"\n[Execution timed out after {timeout:g} seconds and was interrupted.]"
        files = reply.get("files")
        return ExecResult(
            output=output,
            timed_out=interrupted,
            state_lost=state_lost,
            error=bool(reply.get("error")) or not reply.get("ok", False),
            files=tuple(str(name) for name in files) if isinstance(files, list) else (),
        )

    async def run_program(self, code: str, *, timeout: float) -> ProgramResult:  # noqa: ASYNC109 - seconds, like execute
        """Run `code` as a separate `python3` program beside the session (its variables are not visible).

        The exit status is collected by the relay (PID 1) with `waitpid`, so the program cannot forge it;
        it can only choose it (e.g. `os._exit(0)`). Processes it leaves behind are killed afterwards.
        """
        await self.start()
        async with self._lock:
            self._check_open()
            await self._settle()
            if self._session is None:
                self._session = await self._open()
            session = self._session
            limit = reply_limit(self.config.output_limit)
            wait = timeout + self.interrupt_grace_s + 5.0
            try:
                request = {"op": "run", "code": code, "timeout": timeout}
                nonce = await self._request(session, request, limit, due_in=wait)
                reply = await self._reply(session, nonce, wait)
                self._pending = None
                if reply is not None and reply.get("ok") is False:
                    message = str(reply.get("message", "unknown error"))
                    return ProgramResult(None, f"[The program could not be started: {message}]")
                if reply is None or not isinstance(reply.get("exit_code"), int):
                    raise ProtocolViolation("the sandbox ended without an exit status")
                raw = base64.b64decode(str(reply.get("output", "")), validate=True)
            except (TimeoutError, ProtocolViolation, binascii.Error) as exc:
                self._pending = None
                await self._replace(session, stateless=False)
                note = f"[The sandbox failed to run the program ({exc or 'timed out'}); it was restarted: "
                note += "all variables and imports are lost. Files in /mnt/data were kept.]"
                return ProgramResult(None, note, timed_out=isinstance(exc, TimeoutError))
        output = clean_output(raw, self.config.output_limit + CUT_MARKER_SLACK)
        return ProgramResult(int(reply["exit_code"]), output, timed_out=bool(reply.get("timed_out")))

    async def _request(
        self,
        session: LaunchedContainer,
        message: dict[str, Any],
        limit: int,
        *,
        track: bool = True,
        due_in: float | None = None,
    ) -> str:
        """Send one request under a fresh random id; its reply may be at most `limit` bytes.

        Tracked requests are recorded as pending before they are sent (due within `due_in` s, or the
        interrupt grace): if the caller is cancelled, the next request first collects the reply (see
        `_settle`), so the channel never gets out of step. The caller clears `_pending` on its reply.
        """
        nonce = secrets.token_hex(16)
        if track:
            self._pending = nonce
            self._pending_deadline = None
            if due_in is not None:
                self._pending_deadline = asyncio.get_running_loop().time() + due_in
        session.channel.expect(limit)
        await session.channel.send({**message, "id": nonce})
        return nonce

    async def _reply(self, session: LaunchedContainer, nonce: str, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109
        """The reply carrying `nonce` (None at end of stream); anything else is a `ProtocolViolation`."""
        reply = await session.channel.receive(timeout)
        if reply is not None and reply.get("id") != nonce:
            raise ProtocolViolation("the sandbox sent a reply to no request of ours")
        return reply

    def _interrupt(self, container_id: str) -> None:
        try:
            self._client.api.kill(container_id, signal="SIGINT")
        except Exception:
            pass  # already dead: the reply wait sees the end of the stream

    async def _replace(self, session: LaunchedContainer, *, stateless: bool, dead: bool = False) -> None:
        """Start the successor before removing the old container, so the data volume stays mounted."""
        if stateless:
            return  # the caller discards the container; there is no successor
        self._session = None
        self._state_lost = True
        if self._closed:
            await discard_session(self._client, session, keep_volume=True)
            return
        if dead:  # a dead container already released the tmpfs: its files are gone
            await discard_session(self._client, session, keep_volume=False)
            self._volume = await asyncio.to_thread(create_volume, self._client, self.config)
            self._session = await self._open()
            return
        try:
            self._session = await self._open()
        finally:
            await discard_session(self._client, session, keep_volume=True)

    async def _file_op(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.start()
        async with self._lock:
            self._check_open()
            await self._settle()
            session = self._session
            temporary = session is None
            if session is None:
                session = await self._open()
            limit = FILE_REPLY_BYTES if message["op"] == "get" else CONTROL_REPLY_BYTES
            try:
                nonce = await self._request(
                    session, message, limit, track=not temporary, due_in=FILE_TIMEOUT_S
                )
                reply = await self._reply(session, nonce, FILE_TIMEOUT_S)
                self._pending = None
            except (TimeoutError, ProtocolViolation) as exc:
                self._pending = None
                if not temporary:
                    await self._replace(session, stateless=False)
                what = "did not answer" if isinstance(exc, TimeoutError) else f"broke its protocol ({exc})"
                raise SandboxError(
                    f"the sandbox {what} during a file request; it was restarted and its python state lost"
                ) from exc
            finally:
                if temporary:
                    await discard_session(self._client, session, keep_volume=True)
        if reply is None:
            raise SandboxError("the sandbox interpreter exited during a file request")
        if not reply.get("ok"):
            raise FileNotFoundError(reply.get("message", "file request failed"))
        return reply

    async def put_file(self, path: str, data: bytes) -> None:
        relative = normalize_data_path(path)
        await self._file_op({"op": "put", "path": relative, "data": base64.b64encode(data).decode()})

    async def get_file(self, path: str) -> bytes:
        relative = normalize_data_path(path)
        reply = await self._file_op({"op": "get", "path": relative, "max_bytes": MAX_FILE_BYTES})
        if reply.get("cut"):
            raise SandboxError(f"the sandbox could not read all of {relative}")
        try:
            return base64.b64decode(str(reply["data"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            raise SandboxError("the sandbox sent a malformed file reply") from exc

    async def list_files(self) -> list[str]:
        reply = await self._file_op({"op": "list"})
        files = reply.get("files")
        if not isinstance(files, list):
            raise SandboxError("the sandbox sent a malformed file listing")
        self.listing_cut = bool(reply.get("cut"))
        if self.listing_cut:
            logger.warning("the sandbox listed only the first %d files of /mnt/data", len(files))
        return [str(name) for name in files]

    async def aclose(self) -> None:
        """Remove the container and the data volume; a call still running ends with an error result."""
        if self._closed:
            return
        self._closed = True
        async with self._start_lock:  # let a start in progress finish, then undo it
            pass
        if self._client is None:
            return
        session, self._session = self._session, None
        if session is not None:  # killing it ends a running call's stream without waiting for the lock
            await discard_session(self._client, session, keep_volume=True)
        async with self._lock:
            if self._session is not None:  # started by a restart that raced with this close
                await discard_session(self._client, self._session, keep_volume=True)
                self._session = None
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._volume is not None:
                await asyncio.to_thread(remove_volume, self._client, self._volume)
