"""Transcripts: one JSON object per line for every event of a run, flushed as it happens.

A crash or Ctrl-C loses nothing that was already written. Records carry an `event` name, a
wall-clock `time` and the `run` id (runs sharing a file interleave). The kinds: `run_started`,
`request` (prompt token count, max_tokens), `completion` (sampled token ids, finish reason, usage,
parsed messages, diagnostics, duration), `tool_call` (inputs, output, timing), `elided` and
`run_finished` (stop reason, final answer, usage). `agentoss replay FILE` shows them (`read_transcript`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentoss.harmony.messages import Message

__all__ = ["TranscriptWriter", "message_to_dict", "read_transcript"]


def message_to_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON object, without its empty fields."""
    return {key: value for key, value in asdict(message).items() if value is not None}


class TranscriptWriter:
    """Appends records to a JSONL file, one `write` + `flush` per record.

    Records are a few hundred bytes written to the page cache, so the write is done inline rather
    than in a thread: a thread hop per record would cost more than the write and could reorder records.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        if self._file.closed:
            return
        record = {"event": event, "time": round(time.time(), 6), **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, default=_default) + "\n")
        self._file.flush()

    def sync(self) -> None:
        """Force the file to disk (used at the end of a run)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _default(value: Any) -> Any:
    if isinstance(value, Message):
        return message_to_dict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def read_transcript(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a transcript; a torn last line (a crash mid-write) is skipped."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
