"""Train the default reply member once on the Bitext train split and print its figures.

Prints the training time, validation perplexity (reply tokens), ROUGE-L F1 of greedy replies on a validation
sample, and greedy generation latency at batch 1 and 8 on CPU. Run with ``python benchmarks/bench_reply.py``;
``--threads`` sets torch's CPU threads (default 1: on a shared two-core machine two OpenMP threads were
about ten times slower per step than one), ``--max-train-seconds`` the training time limit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ensemble.datasets import load_bitext, split_bitext
from ensemble.members.reply import GenerationSettings, ReplyModel
from ensemble.members.reply_training import ReplyTrainConfig, frame_prompts, train_reply


def latency(
    model: ReplyModel, prompts: list[str], batch: int, settings: GenerationSettings, repeats: int
) -> tuple[float, float]:
    """Median seconds per generate call at ``batch`` prompts, and the mean new tokens per reply."""
    seconds, tokens = [], []
    for r in range(repeats):
        chunk = prompts[r * batch : (r + 1) * batch]
        start = time.perf_counter()
        rows = model.generate_ids(chunk, settings)
        seconds.append(time.perf_counter() - start)
        tokens.extend(len(row) for row in rows)
    return statistics.median(seconds), statistics.mean(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-train-seconds", type=float, default=ReplyTrainConfig().max_train_seconds)
    parser.add_argument("--epochs", type=int, default=ReplyTrainConfig().epochs)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = split_bitext(load_bitext())
    cfg = ReplyTrainConfig(max_train_seconds=args.max_train_seconds, epochs=args.epochs)
    start = time.perf_counter()
    model, metrics = train_reply(splits, cfg)
    wall = time.perf_counter() - start
    print(f"threads {args.threads}; train rows {len(splits.train)}, val rows {len(splits.val)}")
    print(f"parameters {metrics['parameters']:.0f}; train tokens {metrics['train_tokens']:.0f}")
    print(
        f"train {metrics['train_seconds']:.1f} s ({metrics['steps']:.0f} steps, "
        f"{metrics['epochs_completed']:.2f} epochs, stopped by time limit: "
        f"{bool(metrics['stopped_by_time_limit'])}); train_reply total {wall:.1f} s"
    )
    print(f"val perplexity (reply tokens) {metrics['val_perplexity']:.2f}")
    print(
        f"val ROUGE-L F1 (greedy, {metrics['rouge_samples']:.0f} samples) {metrics['val_rouge_l_f1']:.3f} "
        f"in {metrics['generation_seconds']:.1f} s"
    )
    prompts = frame_prompts(splits.val)
    settings = cfg.generation
    for batch in (1, 8):
        median, mean_tokens = latency(model, prompts, batch, settings, args.repeats)
        print(
            f"greedy latency batch {batch}: median {median * 1000:.0f} ms per call, "
            f"{mean_tokens:.0f} new tokens per reply on average, "
            f"{median * 1000 / max(mean_tokens, 1):.1f} ms per generated step"
        )
    sample = splits.val.iloc[0]
    print("example prompt:", prompts[0])
    print("example reply:", model.generate([prompts[0]])[0])
    print("reference:", sample["response"])


if __name__ == "__main__":
    main()
