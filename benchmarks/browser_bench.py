"""Benchmark the browser's offline corpus: indexing throughput and search latency on 10,000 documents.

Prints, each next to a baseline measured in the same run:
1. indexing throughput (documents/s) of `LocalCorpusBackend.build_index` on a generated corpus of
   10,000 HTML / Markdown / text files (conversion + BM25), then the cost of re-opening the unchanged
   index and of an incremental pass after 1% of the files changed;
2. search latency p50 / p99 of `LocalCorpusBackend.search_sync` (BM25 + snippets, top 10) and of a
   whole `browser.search` call (results page + token window), against a naive scan that scores every
   document by counting the query words (the baseline). Target: p50 search under 20 ms.

Run: `.venv/bin/python benchmarks/browser_bench.py [--docs 10000] [--queries 300]`.
Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from agentoss.tools.browser import BrowserTool, LocalCorpusBackend
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

_TARGET_P50_MS = 20.0


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def _zipf_sampler(rng: random.Random, words: Sequence[str]) -> Callable[[int], list[str]]:
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return lambda count: rng.choices(words, weights=weights, k=count)


def generate_corpus(root: Path, documents: int, seed: int, progress: Progress) -> list[str]:
    """Write `documents` files (a third each HTML, Markdown, text); return their titles' words."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 20_000)
    sample = _zipf_sampler(rng, words)
    task = progress.add_task("generating corpus", total=documents)
    for index in range(documents):
        folder = root / f"part{index // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        title = " ".join(sample(4)).title()
        paragraphs = [" ".join(sample(rng.randint(40, 90))) + "." for _ in range(rng.randint(2, 5))]
        kind = index % 3
        if kind == 0:
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            text = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
            (folder / f"doc{index:05d}.html").write_text(text, encoding="utf-8")
        elif kind == 1:
            text = f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"
            (folder / f"doc{index:05d}.md").write_text(text, encoding="utf-8")
        else:
            text = f"{title}\n\n" + "\n\n".join(paragraphs) + "\n"
            (folder / f"doc{index:05d}.txt").write_text(text, encoding="utf-8")
        progress.advance(task)
    return words


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def naive_scan(texts: Sequence[str], query: str, topn: int) -> list[int]:
    """The baseline: score every document by how often the query words occur in it."""
    terms = query.lower().split()
    scores = [(sum(text.count(term) for term in terms), index) for index, text in enumerate(texts)]
    return [index for score, index in sorted(scores, reverse=True)[:topn] if score > 0]


def _time_ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def _run(loop: asyncio.AbstractEventLoop, tool: BrowserTool, query: str) -> str:
    return loop.run_until_complete(tool.search(query=query))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=max(Console().width, 110))
    rng = random.Random(args.seed + 1)
    with tempfile.TemporaryDirectory(prefix="agentoss-browser-bench-") as tmp:
        root = Path(tmp) / "corpus"
        index_dir = Path(tmp) / "index"
        with Progress(console=console, transient=True) as progress:
            words = generate_corpus(root, args.docs, args.seed, progress)
            task = progress.add_task("indexing (full)", total=None)
            backend = LocalCorpusBackend(root, index_dir=index_dir)
            full_s = _time_ms(backend.build_index) / 1000
            progress.update(task, description="re-opening the unchanged index")
            reopened = LocalCorpusBackend(root, index_dir=index_dir)
            reopen_s = _time_ms(reopened.build_index) / 1000
            changed = sorted(root.rglob("*.md"))[: max(1, args.docs // 100)]
            for path in changed:
                path.write_text(path.read_text(encoding="utf-8") + "\nappended words\n", encoding="utf-8")
                os.utime(path, ns=(1, 1))
            progress.update(task, description="incremental re-index (1% changed)")
            incremental = LocalCorpusBackend(root, index_dir=index_dir)
            incremental_s = _time_ms(incremental.build_index) / 1000
            progress.remove_task(task)

            # Queries mix frequent and rare words, as real queries do.
            queries = [
                " ".join(rng.choice(words[: 2000 if i % 2 else 20_000]) for _ in range(rng.randint(2, 4)))
                for i in range(args.queries)
            ]
            texts = incremental._texts
            task = progress.add_task("searching (BM25)", total=len(queries))
            bm25_ms = []
            for query in queries:
                bm25_ms.append(_time_ms(partial(incremental.search_sync, query, 10)))
                progress.advance(task)
            tool = BrowserTool(incremental)
            _run(loop := asyncio.new_event_loop(), tool, queries[0])  # loads the tokenizer once
            tool_ms = []
            task = progress.add_task("searching (browser.search call)", total=len(queries))
            for query in queries:
                tool_ms.append(_time_ms(partial(_run, loop, tool, query)))
                progress.advance(task)
            loop.close()
            baseline_queries = queries[: max(10, len(queries) // 10)]
            task = progress.add_task("searching (naive scan baseline)", total=len(baseline_queries))
            naive_ms = []
            for query in baseline_queries:
                naive_ms.append(_time_ms(partial(naive_scan, texts, query, 10)))
                progress.advance(task)

    table = Table(title=f"browser corpus benchmark ({args.docs:,} documents)")
    table.add_column("measure")
    table.add_column("agentoss", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("speed-up", justify="right")
    table.add_row(
        "index: full build",
        f"{args.docs / full_s:,.0f} docs/s ({full_s:.2f} s)",
        "",
        "",
    )
    table.add_row(
        "index: reopen unchanged",
        f"{reopen_s:.2f} s",
        f"full build {full_s:.2f} s",
        f"{full_s / reopen_s:.1f}x",
    )
    table.add_row(
        f"index: incremental ({len(changed)} changed)",
        f"{incremental_s:.2f} s",
        f"full build {full_s:.2f} s",
        f"{full_s / incremental_s:.1f}x",
    )
    naive_p50 = statistics.median(naive_ms)
    for name, values in (("search p50 (BM25 + snippets)", bm25_ms), ("browser.search p50", tool_ms)):
        p50 = statistics.median(values)
        table.add_row(name, f"{p50:.2f} ms", f"naive scan {naive_p50:.2f} ms", f"{naive_p50 / p50:.1f}x")
    naive_p99 = _percentile(naive_ms, 0.99)
    for name, values in (("search p99 (BM25 + snippets)", bm25_ms), ("browser.search p99", tool_ms)):
        p99 = _percentile(values, 0.99)
        table.add_row(name, f"{p99:.2f} ms", f"naive scan {naive_p99:.2f} ms", f"{naive_p99 / p99:.1f}x")
    console.print(table)
    verdict = "met" if statistics.median(bm25_ms) < _TARGET_P50_MS else "NOT met"
    console.print(f"target p50 search < {_TARGET_P50_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
