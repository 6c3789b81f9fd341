"""Training and evaluation of the reply member on Bitext (instruction, intent, entity -> reference response).

:func:`train_reply` trains a tokenizer and a small GPT-2 on the training split (or fine-tunes a local causal
LM given by ``base_model_path``), then reports the validation perplexity of the reply tokens and the ROUGE-L
F1 of greedy replies against the references on a validation sample. Training stops after ``epochs`` or after
``max_train_seconds``, whichever comes first; the learning-rate schedule follows whichever is further along,
so a run cut by the clock still ends on a decayed rate.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch

from ensemble.datasets import DataSplits
from ensemble.errors import ModelError
from ensemble.members.reply import (
    EncodedExample,
    GenerationSettings,
    ReplyConfig,
    ReplyModel,
    collate,
    format_prompt,
)
from ensemble.members.reply_rouge import mean_rouge_l_f1
from ensemble.members.reply_tokenizer import normalise_text

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("instruction", "intent", "response")


@dataclass(frozen=True)
class ReplyTrainConfig:
    """Settings of one reply training run; the defaults fit a few minutes on two CPU cores."""

    model: ReplyConfig = field(default_factory=ReplyConfig)
    vocab_size: int = 4096
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 3e-3
    min_learning_rate: float = 3e-4
    warmup_steps: int = 20
    weight_decay: float = 0.01
    max_train_seconds: float | None = 240.0  # None: run every epoch
    eval_samples: int = 200  # validation rows whose greedy replies are scored with ROUGE-L
    eval_batch_size: int = 25
    # Chosen on validation ROUGE-L (200 rows): greedy decoding loops on phrases; this pair curbs it.
    generation: GenerationSettings = field(
        default_factory=lambda: GenerationSettings(repetition_penalty=1.1, no_repeat_ngram_size=4)
    )
    seed: int = 0
    base_model_path: str | None = None  # a local HF causal LM to fine-tune instead of a new GPT-2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def example_facts(entity_type: str, entity_value: str) -> str | None:
    """The facts text of a Bitext row: its entity as ``"order_id: 123"``, or None if it has none."""
    if not entity_type.strip() or not entity_value.strip():
        return None
    return f"{entity_type.strip()}: {entity_value.strip()}"


def frame_prompts(frame: pd.DataFrame) -> list[str]:
    """One :func:`format_prompt` per row of a Bitext frame (intent, entity facts, instruction)."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ModelError(f"reply data lacks columns {missing}; columns are {list(frame.columns)}")
    types = frame["entity_type"] if "entity_type" in frame.columns else pd.Series([""] * len(frame))
    values = frame["entity_value"] if "entity_value" in frame.columns else pd.Series([""] * len(frame))
    return [
        format_prompt(str(intent), str(message), example_facts(str(kind), str(value)))
        for intent, message, kind, value in zip(
            frame["intent"], frame["instruction"], types.fillna(""), values.fillna(""), strict=True
        )
    ]


def encode_frame(model: ReplyModel, frame: pd.DataFrame) -> list[EncodedExample]:
    """Training sequences of every row of a Bitext frame."""
    return [model.encode(p, str(r)) for p, r in zip(frame_prompts(frame), frame["response"], strict=True)]


def length_batches(
    examples: Sequence[EncodedExample], batch_size: int, rng: random.Random
) -> Iterator[list[EncodedExample]]:
    """Shuffled batches of similar length (little padding): shuffle, sort within pools of 50 batches, cut."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[EncodedExample]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i].input_ids))
        batches.extend([examples[i] for i in chunk[j : j + batch_size]] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    yield from batches


def learning_rate(cfg: ReplyTrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_learning_rate`` as progress -> 1."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.min_learning_rate + (cfg.learning_rate - cfg.min_learning_rate) * cosine


@torch.no_grad()
def reply_perplexity(model: ReplyModel, examples: Sequence[EncodedExample], batch_size: int = 32) -> float:
    """exp(mean cross-entropy) over the reply tokens (and closing end-of-text) of ``examples``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        ordered = sorted(examples, key=lambda e: len(e.input_ids))
        for start in range(0, len(ordered), batch_size):
            loss, n = model.reply_loss(collate(ordered[start : start + batch_size], model.pad_token_id))
            total, count = total + float(loss), count + n
    finally:
        model.train(was_training)
    if count == 0:
        raise ModelError("no reply tokens to score; give validation rows with non-empty responses")
    return math.exp(total / count)


def generate_replies(
    model: ReplyModel, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 25
) -> list[str]:
    """Replies to many prompts, generated ``batch_size`` at a time."""
    replies: list[str] = []
    for start in range(0, len(prompts), batch_size):
        replies.extend(model.generate(prompts[start : start + batch_size], settings))
    return replies


def evaluate_reply(model: ReplyModel, frame: pd.DataFrame, cfg: ReplyTrainConfig) -> dict[str, float]:
    """Perplexity on every row; ROUGE-L F1 of greedy replies on a seeded sample of ``eval_samples`` rows."""
    perplexity = reply_perplexity(model, encode_frame(model, frame))
    sample = frame.sample(n=min(cfg.eval_samples, len(frame)), random_state=cfg.seed)
    start = time.perf_counter()
    replies = generate_replies(model, frame_prompts(sample), cfg.generation, cfg.eval_batch_size)
    seconds = time.perf_counter() - start
    references = [normalise_text(str(r)) for r in sample["response"]]
    return {
        "val_perplexity": perplexity,
        "val_rouge_l_f1": mean_rouge_l_f1(replies, references),
        "rouge_samples": float(len(sample)),
        "generation_seconds": seconds,
    }


def new_model(splits: DataSplits, cfg: ReplyTrainConfig) -> ReplyModel:
    """The starting model: ``base_model_path`` if given, else a GPT-2 over a freshly trained tokenizer."""
    torch.manual_seed(cfg.seed)
    if cfg.base_model_path is not None:
        return ReplyModel.from_local(cfg.base_model_path, cfg.model)
    texts = [*splits.train["instruction"].astype(str), *splits.train["response"].astype(str)]
    return ReplyModel.from_texts(texts, cfg.model, vocab_size=cfg.vocab_size)


def fit(
    model: ReplyModel,
    examples: Sequence[EncodedExample],
    cfg: ReplyTrainConfig,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place with AdamW on the reply-token loss; returns step, epoch and loss figures.
    ``on_step`` is told ``(steps done, steps of every epoch)`` after each batch (the time limit may end it early)."""
    if not examples:
        raise ModelError("no training examples; give a non-empty training split")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    start = time.perf_counter()
    step, epochs_done, stopped_by_clock = 0, 0.0, False
    recent: list[float] = []
    model.train()
    for epoch in range(cfg.epochs):
        for batch_index, batch in enumerate(length_batches(examples, cfg.batch_size, rng)):
            elapsed = time.perf_counter() - start
            if cfg.max_train_seconds is not None and elapsed >= cfg.max_train_seconds:
                stopped_by_clock = True
                epochs_done = epoch + batch_index / steps_per_epoch
                break
            clock = elapsed / cfg.max_train_seconds if cfg.max_train_seconds else 0.0
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(cfg, step, max(step / total_steps, clock))
            loss_sum, count = model.reply_loss(collate(batch, model.pad_token_id))
            loss = loss_sum / max(count, 1)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            recent = [*recent[-19:], loss.item()]
            step += 1
            if on_step is not None:
                on_step(step, total_steps)
            if step % 20 == 0:
                logger.info("reply step %s/%s loss %.3f (%.0f s)", step, total_steps, loss.item(), elapsed)
        if stopped_by_clock:
            break
        epochs_done = epoch + 1.0
    seconds = time.perf_counter() - start
    if stopped_by_clock:
        logger.info("reply training stopped by the %s s limit after %s steps", cfg.max_train_seconds, step)
    model.eval()
    return {
        "train_seconds": seconds,
        "steps": float(step),
        "epochs_completed": epochs_done,
        "stopped_by_time_limit": float(stopped_by_clock),
        "final_train_loss": sum(recent) / len(recent) if recent else float("nan"),
    }


def train_reply(
    splits: DataSplits,
    cfg: ReplyTrainConfig | None = None,
    model: ReplyModel | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[ReplyModel, dict[str, float]]:
    """Train on ``splits.train``, evaluate on ``splits.val``; returns the model and its metrics.

    ``model`` continues training an existing reply model instead of starting a new one; ``on_step`` hears the
    training steps (see :func:`fit`).
    """
    cfg = cfg or ReplyTrainConfig()
    start = time.perf_counter()
    model = model or new_model(splits, cfg)
    examples = encode_frame(model, splits.train)
    metrics: dict[str, float] = {
        "train_examples": float(len(examples)),
        "train_tokens": float(sum(len(e.input_ids) for e in examples)),
        "parameters": float(sum(p.numel() for p in model.parameters())),
    }
    metrics.update(fit(model, examples, cfg, on_step))
    metrics.update(evaluate_reply(model, splits.val, cfg))
    metrics["total_seconds"] = time.perf_counter() - start
    logger.info(
        "reply model: val perplexity %.2f, ROUGE-L F1 %.3f, trained %.0f s",
        metrics["val_perplexity"],
        metrics["val_rouge_l_f1"],
        metrics["train_seconds"],
    )
    return model, metrics


def metrics_summary(metrics: Mapping[str, float]) -> str:
    """One line of the headline figures, for logs and the CLI."""
    return (
        f"val perplexity {metrics['val_perplexity']:.2f}, ROUGE-L F1 {metrics['val_rouge_l_f1']:.3f}, "
        f"{metrics['steps']:.0f} steps / {metrics['epochs_completed']:.2f} epochs "
        f"in {metrics['train_seconds']:.0f} s"
    )
