"""Resumable results: one JSONL line per finished (task, sample, epoch, config hash), written as it finishes.

`results.jsonl` holds one record per finished sample; `transcripts.jsonl` holds the full transcript of
the same key, written before the record so that a record never points at a missing transcript. A run
killed mid-write leaves at most one partial last line, which is ignored on load and fenced off with a
newline before the next append. The last record of a key wins; records with status `error` are run
again by a resumed run, records with status `ok` never are.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_FILE", "TRANSCRIPTS_FILE", "ResultKey", "ResultStore", "config_hash", "read_jsonl"]

RESULTS_FILE = "results.jsonl"
TRANSCRIPTS_FILE = "transcripts.jsonl"
ResultKey = tuple[str, str, int, str]
"""(task, sample id, epoch, config hash)."""


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of the settings that change results (canonical JSON, SHA-256)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a truncated or corrupt line (a killed writer) is skipped."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def key_of(record: Mapping[str, Any]) -> ResultKey:
    return (str(record["task"]), str(record["sample_id"]), int(record["epoch"]), str(record["config"]))


class ResultStore:
    """Append-only results of one output directory; safe for many concurrent writers in one process."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.results_path = self.directory / RESULTS_FILE
        self.transcripts_path = self.directory / TRANSCRIPTS_FILE
        self._pending: list[tuple[str, str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def records(self) -> dict[ResultKey, dict[str, Any]]:
        """The latest record of every key."""
        latest: dict[ResultKey, dict[str, Any]] = {}
        for record in read_jsonl(self.results_path):
            try:
                latest[key_of(record)] = record
            except (KeyError, TypeError, ValueError):
                continue
        return latest

    def finished(self) -> set[ResultKey]:
        """Keys whose latest record is a scored sample (status `ok`): a resumed run skips them."""
        return {key for key, record in self.records().items() if record.get("status") == "ok"}

    def transcripts(self) -> dict[ResultKey, list[dict[str, Any]]]:
        """The latest transcript of every key."""
        found: dict[ResultKey, list[dict[str, Any]]] = {}
        for record in read_jsonl(self.transcripts_path):
            try:
                found[key_of(record)] = list(record.get("messages", []))
            except (KeyError, TypeError, ValueError):
                continue
        return found

    async def append(self, record: Mapping[str, Any], transcript: list[dict[str, Any]]) -> None:
        """Write the transcript, then the record (the record is the commit mark of a finished sample).

        Returns once both are written. Appends that arrive while a write is in progress are written
        together by the next one (group commit: one thread hop for many finished samples).
        """
        key = {name: record[name] for name in ("task", "sample_id", "epoch", "config")}
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((_dumps({**key, "messages": transcript}), _dumps(dict(record)), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, [t for t, _, _ in batch], [r for _, r, _ in batch])
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _write(self, transcript_lines: list[str], record_lines: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for path, lines in ((self.transcripts_path, transcript_lines), (self.results_path, record_lines)):
            with path.open("a+b") as handle:
                handle.seek(0, 2)
                if handle.tell() > 0:
                    handle.seek(-1, 2)
                    if handle.read(1) != b"\n":
                        handle.write(b"\n")
                handle.write("".join(line + "\n" for line in lines).encode())
                handle.flush()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
