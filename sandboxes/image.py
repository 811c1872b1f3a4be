"""Build the sandbox image once, offline when no registry answers, under a versioned tag.

Two layers: a base image of Debian bookworm with python3, numpy, sympy, pandas and matplotlib
(from `debian:bookworm-slim` when a registry is reachable, otherwise `debootstrap --variant=minbase`
and `docker import`), then a small layer with our interpreter, built from a local Dockerfile. The
final tag includes a hash of the interpreter, so changing it makes a new image and never a stale one.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from agentoss.errors import SandboxError, SandboxUnavailableError

__all__ = [
    "BASE_IMAGE",
    "PACKAGES",
    "build_image",
    "default_image",
    "docker_client",
    "image_exists",
    "interpreter_source",
]

IMAGE_REPOSITORY = "agentoss-sandbox"
IMAGE_VERSION = "1"
BASE_IMAGE = f"agentoss-sandbox-base:bookworm-{IMAGE_VERSION}"
PACKAGES = ("python3", "python3-numpy", "python3-sympy", "python3-pandas", "python3-matplotlib", "procps")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
Source = Literal["auto", "registry", "debootstrap"]

_DOCKERFILE = """\
FROM {base}
COPY {programs} /opt/agentoss/
RUN MPLCONFIGDIR=/opt/agentoss/mplconfig MPLBACKEND=Agg python3 -c "import matplotlib.pyplot" \\
 && chmod -R a+rX /opt/agentoss && mkdir -p /mnt/data && chown 65534:65534 /mnt/data
ENV MPLBACKEND=Agg HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
USER 65534:65534
WORKDIR /mnt/data
LABEL agentoss.sandbox.image="{version}"
CMD ["python3", "-I", "-u", "/opt/agentoss/relay.py", "--reap-all"]
"""

_REGISTRY_BASE = """\
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends {packages} \\
 && rm -rf /var/lib/apt/lists/*
"""


SANDBOX_PROGRAMS = ("interpreter.py", "relay.py", "kernel.py", "datadir.py", "processes.py")
"""The programs baked into the image (modules of `agentoss.sandboxes`, standard library only)."""


def sandbox_program(name: str) -> bytes:
    """The source of one program baked into the image."""
    return resources.files("agentoss.sandboxes").joinpath(name).read_bytes()


def interpreter_source() -> bytes:
    """Every program baked into the image, concatenated (what the image tag's hash covers)."""
    return b"".join(sandbox_program(name) for name in SANDBOX_PROGRAMS)


def default_image() -> str:
    """The versioned tag of the image this version of agentoss runs."""
    digest = hashlib.sha256(interpreter_source() + " ".join(PACKAGES).encode()).hexdigest()[:10]
    return f"{IMAGE_REPOSITORY}:{IMAGE_VERSION}-{digest}"


def docker_client(timeout: float = 60.0) -> Any:
    """A Docker SDK client with a per-request timeout; `SandboxUnavailableError` when no daemon answers."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailableError(
            "the docker SDK is not installed. Fix: pip install 'agentoss[sandbox]'"
        ) from exc
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:
        raise SandboxUnavailableError(
            f"no Docker daemon answers ({exc}). Fix: start Docker, or run `bash scripts/ensure_docker.sh`"
        ) from exc
    return client


def image_exists(client: Any, tag: str) -> bool:
    """True when `tag` is present in the local image store."""
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _registry_reachable(host: str = "registry-1.docker.io", timeout: float = 3.0) -> bool:
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)  # getaddrinfo has no timeout of its own
    return bool(result and result[0])


def _build_context(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _docker_build(client: Any, files: dict[str, bytes], tag: str, log: Callable[[str], None]) -> None:
    import docker.errors

    try:
        _, lines = client.images.build(
            fileobj=_build_context(files), custom_context=True, tag=tag, rm=True, forcerm=True, pull=False
        )
        for entry in lines:
            if isinstance(entry, dict) and entry.get("stream", "").strip():
                log(entry["stream"].rstrip())
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise SandboxError(f"building {tag} failed: {exc}") from exc


def _run(command: list[str], timeout: float, log: Callable[[str], None]) -> None:
    log("$ " + " ".join(command))
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{command[0]} failed: {exc}") from exc
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-2000:]
        raise SandboxError(f"{command[0]} exited with {completed.returncode}:\n{tail}")


def _build_base_debootstrap(client: Any, log: Callable[[str], None], mirror: str) -> None:
    if shutil.which("debootstrap") is None:
        raise SandboxUnavailableError(
            "no registry is reachable and debootstrap is missing. Fix: apt-get install debootstrap"
        )
    with tempfile.TemporaryDirectory(prefix="agentoss-rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(PACKAGES),
                "bookworm",
                str(rootfs),
                mirror,
            ],
            timeout=1800,
            log=log,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
        archive = Path(work) / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], timeout=600, log=log)
        log(f"importing {archive} as {BASE_IMAGE}")
        repository, tag = BASE_IMAGE.split(":")
        try:
            client.api.import_image_from_file(str(archive), repository=repository, tag=tag)
        except Exception as exc:
            raise SandboxError(f"docker import failed: {exc}") from exc


def build_image(
    *,
    source: Source = "auto",
    force: bool = False,
    mirror: str = DEBIAN_MIRROR,
    log: Callable[[str], None] = lambda line: None,
) -> str:
    """Build (or find) the sandbox image and return its tag. Reuses existing images unless `force`."""
    client = docker_client(timeout=600)
    tag = default_image()
    if image_exists(client, tag) and not force:
        log(f"{tag} already present")
        return tag
    if force or not image_exists(client, BASE_IMAGE):
        use_registry = source == "registry" or (source == "auto" and _registry_reachable())
        if use_registry:
            log(f"building {BASE_IMAGE} from debian:bookworm-slim")
            dockerfile = _REGISTRY_BASE.format(packages=" ".join(PACKAGES))
            _docker_build(client, {"Dockerfile": dockerfile.encode()}, BASE_IMAGE, log)
        else:
            log(f"no registry: building {BASE_IMAGE} offline with debootstrap")
            _build_base_debootstrap(client, log, mirror)
    dockerfile = _DOCKERFILE.format(base=BASE_IMAGE, version=tag, programs=" ".join(SANDBOX_PROGRAMS))
    files = {"Dockerfile": dockerfile.encode(), **{name: sandbox_program(name) for name in SANDBOX_PROGRAMS}}
    _docker_build(client, files, tag, log)
    log(f"built {tag}")
    return tag
