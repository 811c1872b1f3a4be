"""`LocalSandbox`: the python session on a machine without Docker. WEAKER isolation than `DockerSandbox`.

With bubblewrap (`bwrap`): new user, pid, network, IPC, UTS and mount namespaces (no network at all),
a read-only view of `/usr` only, a private `/tmp`, the session's data directory at `/mnt/data`, a
cleared environment, all capabilities dropped, uid 65534 (also on the host when we start as root),
and rlimits on address space, file size, open files and core dumps. Started as root, the session also
gets its own cgroup (memory, process count, CPU quota); otherwise nothing limits its CPU or process
count. It shares the host kernel with no seccomp filter and no limit on total data-directory size.
Without bubblewrap it refuses to run unless `unsafe=True`: then the interpreter is a plain child
process with a cleared environment and rlimits only, which protects nothing from hostile code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import resource
import secrets
import shutil
import sys
import tempfile
from importlib import resources
from typing import Any

from agentoss.sandboxes.base import DATA_DIR, ExecResult, normalize_data_path
from agentoss.sandboxes.cgroup import LocalCgroup
from agentoss.sandboxes.container import (
    CONTROL_REPLY_BYTES,
    FILE_REPLY_BYTES,
    MAX_FILE_BYTES,
    ProtocolViolation,
    decode_reply,
    reply_limit,
)
from agentoss.sandboxes.image import SANDBOX_PROGRAMS
from agentoss.sandboxes.output import DEFAULT_OUTPUT_LIMIT, clean_output

from agentoss.errors import SandboxError, SandboxUnavailableError

__all__ = ["LocalSandbox"]

logger = logging.getLogger(__name__)

NOBODY = 65534
FILE_TIMEOUT_S = 60.0
EXEC_REPLY_BYTES = reply_limit(DEFAULT_OUTPUT_LIMIT)
RESTART_SLACK_S = 10.0
"""How long past timeout + grace the relay may take to kill and restart a stubborn kernel."""
LOST_NOTE = (
    "[The previous request was cancelled and could not be completed (or the sandbox misbehaved); "
    "the python process was restarted and all variables and imports were lost.]\n"
)
ISOLATION_NOTE = "weaker isolation: bubblewrap namespaces, rlimits, a cgroup only as root, no seccomp"


class LocalSandbox:
    """A stateful interpreter in a bubblewrap jail (or a bare subprocess with `unsafe=True` and no bwrap)."""

    isolation = ISOLATION_NOTE

    def __init__(
        self,
        *,
        unsafe: bool = False,
        memory_mb: int = 1024,
        pids_limit: int = 128,
        cpus: float = 1.0,
        fsize_mb: int = 256,
        interrupt_grace_s: float = 2.0,
    ) -> None:
        self.unsafe = unsafe
        self.memory_mb = memory_mb
        self.pids_limit = pids_limit
        self.cpus = cpus
        self.cgroup: LocalCgroup | None = None
        """The session's cgroup (memory, pids, CPU) when started as root; None otherwise."""
        self.fsize_mb = fsize_mb
        self.interrupt_grace_s = interrupt_grace_s
        self._process: asyncio.subprocess.Process | None = None
        self._data_dir: str | None = None
        self._lock = asyncio.Lock()
        self._buffer = bytearray()
        """Reply bytes read but not yet consumed (a cancelled read leaves its part here)."""
        self._pending: tuple[str, float] | None = None
        """The id of a request whose caller was cancelled, and when its reply is due (loop time)."""
        self._state_lost = False
        """A file request restarted the process: the next `execute` says state was lost."""
        self.listing_cut = False
        """The last `list_files` hit the relay's size cap: more files exist than it returned."""
        self.uses_bwrap = shutil.which("bwrap") is not None and not unsafe

    def _command(self, programs: str) -> list[str]:
        assert self._data_dir is not None
        # The interpreter needs only the standard library: prefer the system python, which the
        # unprivileged uid can execute (a virtualenv under /root may not be).
        python = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
        if not self.uses_bwrap:
            return [python, "-I", "-u", os.path.join(programs, "relay.py")]
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        command += ["--as-pid-1"]  # the relay is the jail's init: no other process holds its stdio
        command += ["--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
        for link in ("bin", "lib", "lib64", "sbin"):
            if os.path.islink(f"/{link}"):
                command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", self._data_dir, DATA_DIR]
        for name in SANDBOX_PROGRAMS:
            command += ["--ro-bind", os.path.join(programs, name), f"/opt/agentoss/{name}"]
        command += ["--chdir", DATA_DIR]
        command += ["--uid", str(NOBODY), "--gid", str(NOBODY), "--clearenv"]
        command += [
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "MPLBACKEND",
            "Agg",
        ]
        return [*command, python, "-I", "-u", "/opt/agentoss/relay.py", "--reap-all"]

    def _limit(self) -> None:
        """Runs in the child before exec: join the cgroup, set rlimits, then drop root to nobody."""
        if self.cgroup is not None:
            self.cgroup.join()
        memory = self.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize_mb << 20, self.fsize_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    async def start(self) -> None:
        if self._process is not None:
            return
        if not self.uses_bwrap and not self.unsafe:
            raise SandboxUnavailableError(
                "bubblewrap (bwrap) is not installed. Fix: apt-get install bubblewrap, "
                "or pass unsafe=True to run code as a plain subprocess (no isolation)"
            )
        if self.cgroup is None and self.uses_bwrap:
            self.cgroup = await asyncio.to_thread(
                LocalCgroup.create, memory_mb=self.memory_mb, pids=self.pids_limit, cpus=self.cpus
            )
        if self._data_dir is None:
            self._data_dir = tempfile.mkdtemp(prefix="agentoss-data-")
            if os.geteuid() == 0:
                os.chown(self._data_dir, NOBODY, NOBODY)
        programs = str(resources.files("agentoss.sandboxes"))
        environment = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "MPLBACKEND": "Agg",
            "AGENTOSS_DATA_DIR": self._data_dir,
        }
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._command(programs),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=environment,
                cwd=self._data_dir,
                preexec_fn=self._limit,
            )
            ready = await self._receive(30.0, CONTROL_REPLY_BYTES)
        except (OSError, TimeoutError, ProtocolViolation) as exc:
            await self._kill()
            raise SandboxUnavailableError(f"the local sandbox did not start: {exc}") from exc
        if not ready or not ready.get("ready"):
            await self._kill()
            raise SandboxUnavailableError(f"the local sandbox did not start: {ready}")

    async def _request(self, message: dict[str, Any], timeout: float, limit: int) -> dict[str, Any] | None:  # noqa: ASYNC109 - seconds, like the Sandbox contract
        """Send one request under a fresh random id and return its reply (None: the relay exited).

        `ProtocolViolation` for a reply that is oversized, not a JSON object, or carries another id.
        """
        assert self._process is not None and self._process.stdin is not None
        nonce = secrets.token_hex(16)
        # Recorded before sending: a caller cancelled from here on leaves a reply for `_settle`.
        self._pending = (nonce, asyncio.get_running_loop().time() + timeout)
        self._process.stdin.write((json.dumps({**message, "id": nonce}) + "\n").encode())
        await self._process.stdin.drain()
        reply = await self._receive(timeout, limit)
        self._pending = None
        if reply is not None and reply.get("id") != nonce:
            raise ProtocolViolation("the sandbox sent a reply to no request of ours")
        return reply

    async def _settle(self) -> bool:
        """Collect the reply of a cancelled request; restart a process that does not give it.

        Returns True when the process was restarted, i.e. the session's state was lost.
        """
        pending, self._pending = self._pending, None
        if pending is None or self._process is None:
            return False
        nonce, deadline = pending
        wait = max(deadline - asyncio.get_running_loop().time(), self.interrupt_grace_s)
        try:
            reply = await self._receive(wait, max(EXEC_REPLY_BYTES, FILE_REPLY_BYTES))
        except (TimeoutError, ProtocolViolation):
            reply = None
        if reply is None or reply.get("id") != nonce:
            await self._restart()
            return True
        return False

    async def _receive(self, timeout: float, limit: int) -> dict[str, Any] | None:  # noqa: ASYNC109 - seconds, like the Sandbox contract
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        line = self._buffer  # kept across calls: a cancelled read must not lose the start of a reply
        async with asyncio.timeout(timeout):
            index = line.find(b"\n")
            while index < 0:
                if len(line) > limit:
                    raise ProtocolViolation(f"the sandbox sent a reply longer than {limit} bytes")
                chunk = await stdout.read(262144)
                if not chunk:
                    return None
                scanned = len(line)
                line += chunk
                index = line.find(b"\n", scanned)
            if index > limit:
                raise ProtocolViolation(f"the sandbox sent a reply longer than {limit} bytes")
            if index + 1 < len(line):  # only this process writes replies: one per request
                raise ProtocolViolation("the sandbox sent more than one reply")
        self._buffer = bytearray()
        return decode_reply(bytes(line))

    async def _kill(self) -> None:
        process, self._process = self._process, None
        self._buffer = bytearray()
        self._pending = None
        if process is not None and process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10.0)

    async def _restart(self, *, reported: bool = False) -> None:
        """Replace the process; unless the caller's own result says so, the next `execute` will."""
        self._state_lost = not reported
        await self._kill()
        await self.start()

    async def execute(self, code: str, *, timeout: float) -> ExecResult:  # noqa: ASYNC109 - the Sandbox contract takes a timeout in seconds
        await self.start()
        request = {"op": "exec", "code": code, "alarm": timeout, "grace": self.interrupt_grace_s}
        async with self._lock:
            lost = await self._settle() or self._state_lost
            self._state_lost = False
            try:
                reply = await self._request(
                    request, timeout + self.interrupt_grace_s + RESTART_SLACK_S, EXEC_REPLY_BYTES
                )
                raw = base64.b64decode(str(reply.get("output", "")), validate=True) if reply else b""
            except TimeoutError:
                await self._restart(reported=True)
                return ExecResult(
                    output=f"[Execution timed out after {timeout:g} seconds and did not stop when "
                    "interrupted; the python process was restarted: all variables and imports are lost.]",
                    timed_out=True,
                    state_lost=True,
                    error=True,
                )
            except (ProtocolViolation, binascii.Error) as exc:
                await self._restart(reported=True)
                return ExecResult(
                    output=f"[The sandbox broke its protocol ({exc}); the python process was restarted: "
                    "all variables and imports are lost.]",
                    state_lost=True,
                    error=True,
                )
            if reply is None:
                await self._restart(reported=True)
                return ExecResult(
                    output="[The python process died and was restarted; state was lost.]",
                    state_lost=True,
                    error=True,
                )
        output = clean_output(raw, DEFAULT_OUTPUT_LIMIT + 128)
        if lost:
            output = LOST_NOTE + output
        timed_out = bool(reply.get("interrupted"))
        if timed_out:
            output += f"\n[Execution timed out after {timeout:g} seconds and was interrupted.]"
        files = reply.get("files")
        return ExecResult(
            output=output,
            timed_out=timed_out,
            state_lost=lost or bool(reply.get("state_lost")),
            error=bool(reply.get("error")) or not reply.get("ok", False),
            files=tuple(str(name) for name in files) if isinstance(files, list) else (),
        )

    async def _file_op(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.start()
        limit = FILE_REPLY_BYTES if message["op"] == "get" else CONTROL_REPLY_BYTES
        async with self._lock:
            await self._settle()
            try:
                reply = await self._request(message, FILE_TIMEOUT_S, limit)
            except (TimeoutError, ProtocolViolation) as exc:
                await self._restart()
                what = "did not answer" if isinstance(exc, TimeoutError) else f"broke its protocol ({exc})"
                raise SandboxError(
                    f"the local sandbox {what} during a file request; it was restarted and its state lost"
                ) from exc
        if reply is None:
            raise SandboxError("the local sandbox exited during a file request")
        if not reply.get("ok"):
            raise FileNotFoundError(reply.get("message", "file request failed"))
        return reply

    async def put_file(self, path: str, data: bytes) -> None:
        await self._file_op(
            {"op": "put", "path": normalize_data_path(path), "data": base64.b64encode(data).decode()}
        )

    async def get_file(self, path: str) -> bytes:
        reply = await self._file_op(
            {"op": "get", "path": normalize_data_path(path), "max_bytes": MAX_FILE_BYTES}
        )
        if reply.get("cut"):
            raise SandboxError(f"the local sandbox could not read all of {path}")
        try:
            return base64.b64decode(str(reply["data"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            raise SandboxError("the local sandbox sent a malformed file reply") from exc

    async def list_files(self) -> list[str]:
        reply = await self._file_op({"op": "list"})
        files = reply.get("files")
        if not isinstance(files, list):
            raise SandboxError("the local sandbox sent a malformed file listing")
        self.listing_cut = bool(reply.get("cut"))
        if self.listing_cut:
            logger.warning("the local sandbox listed only the first %d files of /mnt/data", len(files))
        return [str(name) for name in files]

    async def aclose(self) -> None:
        await self._kill()
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.remove)
            self.cgroup = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
