"""The reply training loop, evaluation and registry round trip on a tiny model and ten examples."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

from ensemble.datasets import DataSplits
from ensemble.errors import ModelError
from ensemble.members.reply import GenerationSettings, ReplyConfig, ReplyModel, collate, format_prompt
from ensemble.members.reply_artifact import artifact_generation, load_reply, save_reply
from ensemble.members.reply_training import (
    ReplyTrainConfig,
    example_facts,
    frame_prompts,
    learning_rate,
    length_batches,
    train_reply,
)
from ensemble.registry import Lineage, Registry

from .conftest import INTENTS, MESSAGES, REPLIES

TINY = ReplyConfig(n_layer=1, n_head=2, n_embd=32, n_positions=128, max_length=96, max_prompt_tokens=48)


def bitext_like() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instruction": MESSAGES,
            "intent": INTENTS,
            "response": REPLIES,
            "entity_type": ["order_id", "", "", "order_id", "", "", "", "order_id", "", ""],
            "entity_value": ["123", "", "", "456", "", "", "", "789", "", ""],
        }
    )


def test_prompts_carry_the_entity_as_facts() -> None:
    prompts = frame_prompts(bitext_like())
    assert prompts[0] == "<|intent|> cancel_order <|facts|> order_id: 123 <|user|> cancel order 123 <|reply|>"
    assert "<|facts|> none <|user|>" in prompts[1]
    assert example_facts(" ", "x") is None
    with pytest.raises(ModelError, match="lacks columns"):
        frame_prompts(pd.DataFrame({"instruction": ["hi"]}))


def test_length_batches_cover_every_example_once(tiny_model: ReplyModel) -> None:
    examples = [tiny_model.encode(format_prompt(i, m), r) for i, m, r in zip(INTENTS, MESSAGES, REPLIES, strict=True)]
    batches = list(length_batches(examples, 3, random.Random(0)))
    assert [len(b) for b in sorted(batches, key=len, reverse=True)] == [3, 3, 3, 1]
    assert sorted(id(e) for b in batches for e in b) == sorted(id(e) for e in examples)


def test_learning_rate_warms_up_then_decays() -> None:
    cfg = ReplyTrainConfig(learning_rate=1.0, min_learning_rate=0.1, warmup_steps=4)
    assert learning_rate(cfg, 0, 0.0) == pytest.approx(0.25)
    assert learning_rate(cfg, 4, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 10, 0.5) == pytest.approx(0.55)
    assert learning_rate(cfg, 10, 1.0) == pytest.approx(0.1)


def test_train_reply_lowers_the_loss_and_reports_metrics() -> None:
    # Prepare: the same ten rows as train and validation, so perplexity must fall below the untrained value.
    torch.set_num_threads(1)
    frame = bitext_like()
    splits = DataSplits(train=frame, val=frame, test=frame)
    cfg = ReplyTrainConfig(
        model=TINY,
        vocab_size=400,
        epochs=30,
        batch_size=5,
        learning_rate=1e-2,
        min_learning_rate=1e-3,
        warmup_steps=2,
        max_train_seconds=None,
        eval_samples=4,
        eval_batch_size=2,
        generation=GenerationSettings(max_new_tokens=12),
    )
    untrained_vocab = 400 + 32  # an untrained model's perplexity is about the vocabulary size
    steps: list[tuple[int, int]] = []
    # Execute
    model, metrics = train_reply(splits, cfg, on_step=lambda done, total: steps.append((done, total)))
    # Assert
    assert metrics["steps"] == 60
    assert steps == [(i, 60) for i in range(1, 61)]  # every batch reported, of 10 rows x 30 epochs in fives
    assert metrics["epochs_completed"] == 30
    assert metrics["stopped_by_time_limit"] == 0.0
    assert metrics["val_perplexity"] < untrained_vocab / 4
    assert 0.0 <= metrics["val_rouge_l_f1"] <= 1.0
    assert metrics["rouge_samples"] == 4
    assert not model.training


def test_time_limit_stops_training() -> None:
    frame = bitext_like()
    splits = DataSplits(train=frame, val=frame, test=frame)
    cfg = ReplyTrainConfig(
        model=TINY,
        vocab_size=400,
        epochs=50,
        batch_size=5,
        max_train_seconds=0.0,
        eval_samples=1,
        generation=GenerationSettings(max_new_tokens=2),
    )
    _, metrics = train_reply(splits, cfg)
    assert metrics["steps"] == 0
    assert metrics["stopped_by_time_limit"] == 1.0


def test_save_load_round_trip_gives_identical_logits(tiny_model: ReplyModel, tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    lineage = Lineage(parent=None, data_fingerprint="sha256:test", method="central")
    settings = GenerationSettings(max_new_tokens=9, do_sample=True, temperature=0.7, top_p=0.9)
    batch = collate(
        [tiny_model.encode(format_prompt(i, m), r) for i, m, r in zip(INTENTS, MESSAGES, REPLIES, strict=True)],
        tiny_model.pad_token_id,
    )
    tiny_model.eval()
    # Execute
    version = save_reply(registry, tiny_model, metrics={"val_perplexity": 1.5}, lineage=lineage, generation=settings)
    loaded, artifact = load_reply(registry, version.version)
    # Assert
    assert version.id == "reply:v0001"
    assert artifact.metrics == {"val_perplexity": 1.5}
    assert artifact_generation(artifact) == settings
    assert (artifact.path / "tokenizer" / "tokenizer.json").is_file()
    assert loaded.config == tiny_model.config
    assert torch.equal(
        loaded(batch["input_ids"], batch["attention_mask"]),
        tiny_model(batch["input_ids"], batch["attention_mask"]),
    )
    greedy = GenerationSettings(max_new_tokens=6)
    prompts = [format_prompt("cancel_order", "cancel order 123")]
    assert loaded.generate_ids(prompts, greedy) == tiny_model.generate_ids(prompts, greedy)
    assert not math.isnan(loaded.reply_loss(batch)[0].detach().item())
