"""The reply model: prompt format, reply-only loss, a few training steps, generation limits, local models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ensemble.errors import ModelError
from ensemble.members.reply import (
    IGNORE_INDEX,
    GenerationSettings,
    ReplyModel,
    collate,
    encode_example,
    format_prompt,
    reply_token_loss,
)

from .conftest import INTENTS, MESSAGES, REPLIES


def test_format_prompt_layout() -> None:
    prompt = format_prompt("track_order", "  where is\r\nmy parcel ", None)
    assert prompt == "<|intent|> track_order <|facts|> none <|user|> where is\nmy parcel <|reply|>"
    assert "<|facts|> order_id: 12 <|user|>" in format_prompt("track_order", "hi", "order_id: 12")


def test_loss_mask_covers_only_the_reply(tiny_model: ReplyModel) -> None:
    # Prepare: tokenise prompt and reply separately, by hand.
    tokenizer = tiny_model.tokenizer
    prompt = format_prompt("cancel_order", "cancel order 123")
    reply = "Log into {{Website Name}}."
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(" " + reply, add_special_tokens=False)["input_ids"]
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # Execute
    example = encode_example(tokenizer, prompt, reply, max_length=200, max_prompt_tokens=100)
    # Assert: ids are prompt + reply + eos; labels hide exactly the prompt.
    assert example.input_ids == [*prompt_ids, *reply_ids, eos]
    assert example.labels == [IGNORE_INDEX] * len(prompt_ids) + [*reply_ids, eos]
    assert tokenizer.convert_ids_to_tokens(prompt_ids[-1]) == "<|reply|>"
    assert "{{Website Name}}" in tokenizer.convert_ids_to_tokens(reply_ids)


def test_long_examples_are_cut_and_keep_the_reply_marker(tiny_model: ReplyModel) -> None:
    tokenizer = tiny_model.tokenizer
    prompt = format_prompt("cancel_order", "cancel " * 80)
    example = encode_example(tokenizer, prompt, REPLIES[0], max_length=30, max_prompt_tokens=12)
    assert len(example.input_ids) == 30
    assert tokenizer.convert_ids_to_tokens(example.input_ids[11]) == "<|reply|>"
    assert example.labels[:12] == [IGNORE_INDEX] * 12
    assert example.labels[12:] == example.input_ids[12:]


def test_collate_pads_right_and_masks(tiny_model: ReplyModel) -> None:
    examples = [tiny_model.encode(format_prompt(i, m), r) for i, m, r in zip(INTENTS, MESSAGES, REPLIES, strict=True)]
    batch = collate(examples[:2], pad_id=tiny_model.pad_token_id)
    lengths = [len(e.input_ids) for e in examples[:2]]
    assert batch["input_ids"].shape == (2, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_reply_loss_equals_full_logit_loss(tiny_model: ReplyModel) -> None:
    # Prepare
    examples = [tiny_model.encode(format_prompt(i, m), r) for i, m, r in zip(INTENTS, MESSAGES, REPLIES, strict=True)]
    batch = collate(examples[:4], pad_id=tiny_model.pad_token_id)
    tiny_model.eval()
    # Execute: the fast loss (head on reply positions only) and cross-entropy on the full logits.
    fast, fast_count = tiny_model.reply_loss(batch)
    full, full_count = reply_token_loss(tiny_model(batch["input_ids"], batch["attention_mask"]), batch["labels"])
    # Assert: the count is the number of labelled tokens after the first position.
    assert fast_count == full_count == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    torch.testing.assert_close(fast, full)


def test_a_few_steps_reduce_the_loss(tiny_model: ReplyModel) -> None:
    # Prepare
    examples = [tiny_model.encode(format_prompt(i, m), r) for i, m, r in zip(INTENTS, MESSAGES, REPLIES, strict=True)]
    batch = collate(examples, pad_id=tiny_model.pad_token_id)
    optimiser = torch.optim.AdamW(tiny_model.parameters(), lr=1e-2)
    tiny_model.train()
    losses = []
    # Execute
    for _ in range(15):
        total, count = tiny_model.reply_loss(batch)
        loss = total / count
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    # Assert
    assert losses[-1] < 0.7 * losses[0]


def test_generation_respects_max_new_tokens(tiny_model: ReplyModel) -> None:
    # Prepare: make end-of-text impossible so only the limit can stop generation.
    prompts = [format_prompt(i, m) for i, m in zip(INTENTS[:3], MESSAGES[:3], strict=True)]
    lm_head = tiny_model.lm.lm_head
    lm_head.bias = torch.nn.Parameter(torch.zeros(lm_head.out_features))
    with torch.no_grad():
        lm_head.bias[tiny_model.eos_token_id] = -1e4
        lm_head.bias[tiny_model.pad_token_id] = -1e4
    # Execute
    rows = tiny_model.generate_ids(prompts, GenerationSettings(max_new_tokens=7))
    # Assert
    assert [len(r) for r in rows] == [7, 7, 7]


def test_generation_stops_at_end_of_text(tiny_model: ReplyModel) -> None:
    # Prepare: a bias that makes end-of-text the greedy choice at every step.
    prompts = [format_prompt(i, m) for i, m in zip(INTENTS[:2], MESSAGES[:2], strict=True)]
    lm_head = tiny_model.lm.lm_head
    lm_head.bias = torch.nn.Parameter(torch.zeros(lm_head.out_features))
    with torch.no_grad():
        lm_head.bias[tiny_model.eos_token_id] = 1e4
    # Execute
    rows = tiny_model.generate_ids(prompts, GenerationSettings(max_new_tokens=20))
    texts = tiny_model.generate(prompts)
    # Assert
    assert rows == [[], []]
    assert texts == ["", ""]


def test_left_padding_does_not_change_the_greedy_reply(tiny_model: ReplyModel) -> None:
    short = format_prompt("cancel_order", "cancel")
    long = format_prompt("track_order", "where is my parcel, I ordered it two weeks ago")
    settings = GenerationSettings(max_new_tokens=6)
    alone = tiny_model.generate_ids([short], settings)
    batched = tiny_model.generate_ids([short, long], settings)
    assert batched[0] == alone[0]


def test_sampling_is_reproducible_with_a_seed(tiny_model: ReplyModel) -> None:
    prompts = [format_prompt("cancel_order", "cancel order 123")]
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.9, seed=3)
    assert tiny_model.generate_ids(prompts, settings) == tiny_model.generate_ids(prompts, settings)


def test_generation_settings_are_validated() -> None:
    with pytest.raises(ModelError, match="max_new_tokens"):
        GenerationSettings(max_new_tokens=0)
    with pytest.raises(ModelError, match="temperature"):
        GenerationSettings(temperature=0.0)
    with pytest.raises(ModelError, match="top_p"):
        GenerationSettings(top_p=1.5)


def test_from_local_loads_a_saved_causal_lm(tiny_model: ReplyModel, tmp_path: Path) -> None:
    # Prepare: a causal LM saved the HF way, as a user's --reply-model directory would be.
    tiny_model.lm.save_pretrained(str(tmp_path))
    tiny_model.tokenizer.save_pretrained(str(tmp_path))
    batch = collate([tiny_model.encode(format_prompt("cancel_order", "cancel"), REPLIES[0])], tiny_model.pad_token_id)
    tiny_model.eval()
    # Execute
    local = ReplyModel.from_local(tmp_path)
    # Assert
    torch.testing.assert_close(
        local(batch["input_ids"], batch["attention_mask"]),
        tiny_model(batch["input_ids"], batch["attention_mask"]),
    )
    assert local.config.n_positions == tiny_model.lm.config.n_positions
    prompt = [format_prompt("cancel_order", "cancel")]
    settings = GenerationSettings(max_new_tokens=5)
    assert local.generate_ids(prompt, settings) == tiny_model.generate_ids(prompt, settings)


def test_from_local_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        ReplyModel.from_local(tmp_path / "nothing-here")
