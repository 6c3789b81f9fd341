"""The reply member: a GPT-2-architecture causal LM that writes the answer, conditioned on intent and facts.

The model reads one prompt and continues it with the reply::

    <|intent|> {intent} <|facts|> {facts or "none"} <|user|> {message} <|reply|> {reply} <|endoftext|>

Training puts the loss only on the reply tokens and the closing ``<|endoftext|>`` (:func:`encode_example`).
The default is a small ``GPT2LMHeadModel`` over a locally trained tokenizer (``reply_tokenizer``); any local
HF causal-LM directory can take its place (:meth:`ReplyModel.from_local`), and nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerBase

from ensemble.errors import ModelError
from ensemble.members.reply_tokenizer import (
    END_OF_TEXT,
    FACTS_MARK,
    INTENT_MARK,
    REPLY_MARK,
    USER_MARK,
    load_reply_tokenizer,
    normalise_text,
    train_reply_tokenizer,
)

logger = logging.getLogger(__name__)

MEMBER = "reply"
IGNORE_INDEX = -100  # label value that cross-entropy skips
NO_FACTS = "none"


@dataclass(frozen=True)
class ReplyConfig:
    """The architecture of the default GPT-2 reply model and the longest sequence it trains on."""

    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 128
    n_positions: int = 256
    max_length: int = 192  # prompt + reply tokens per training example; longer replies are cut
    max_prompt_tokens: int = 64  # the message is cut to keep the prompt within this many tokens
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplyConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are decoded: greedy unless ``do_sample``; then temperature and nucleus (top-p) sampling.

    ``repetition_penalty`` (> 1 discourages tokens already in the sequence) and ``no_repeat_ngram_size``
    (0: off; n: no n-gram occurs twice) are passed to transformers' ``generate``; they stop greedy decoding
    from looping on a phrase.
    """

    max_new_tokens: int = 200
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None  # sampling seed; None leaves torch's generator as it is
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ModelError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ModelError(f"temperature must be positive, got {self.temperature}; use do_sample=False for greedy")
        if not 0 < self.top_p <= 1:
            raise ModelError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ModelError(f"repetition_penalty must be positive, got {self.repetition_penalty}; 1.0 turns it off")
        if self.no_repeat_ngram_size < 0:
            raise ModelError(f"no_repeat_ngram_size must be >= 0, got {self.no_repeat_ngram_size}; 0 turns it off")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EncodedExample:
    """One training sequence: token ids [T] and labels [T] (IGNORE_INDEX outside the reply)."""

    input_ids: list[int]
    labels: list[int]


def format_prompt(intent: str, message: str, facts: str | None = None) -> str:
    """The conditioning text that ends with the reply marker."""
    facts_text = facts.strip() if facts and facts.strip() else NO_FACTS
    return (
        f"{INTENT_MARK} {intent.strip()} {FACTS_MARK} {facts_text} {USER_MARK} {normalise_text(message)} {REPLY_MARK}"
    )


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, max_prompt_tokens: int) -> list[int]:
    """Token ids of a prompt; a prompt over ``max_prompt_tokens`` keeps its head and its reply marker."""
    ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) > max_prompt_tokens:
        ids = [*ids[: max_prompt_tokens - 1], ids[-1]]
    return ids


def encode_example(
    tokenizer: PreTrainedTokenizerBase, prompt: str, reply: str, *, max_length: int, max_prompt_tokens: int
) -> EncodedExample:
    """Prompt + " " + reply + end-of-text, labelled on the reply part only, cut to ``max_length`` tokens."""
    head = prompt_ids(tokenizer, prompt, max_prompt_tokens)
    eos = int(tokenizer.convert_tokens_to_ids(END_OF_TEXT))  # type: ignore[arg-type]
    tail: list[int] = [*tokenizer(" " + normalise_text(reply), add_special_tokens=False)["input_ids"], eos]
    ids = (head + tail)[:max_length]
    labels = ([IGNORE_INDEX] * len(head) + tail)[:max_length]
    return EncodedExample(ids, labels)


def collate(examples: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: input_ids [B, T], attention_mask [B, T], labels [B, T]."""
    width = max(len(example.input_ids) for example in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def reply_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled positions and their count: [B, T, V], [B, T]."""
    shifted_logits = logits[:, :-1, :].reshape(-1, logits.size(-1))  # [B*(T-1), V]
    shifted_labels = labels[:, 1:].reshape(-1)  # [B*(T-1)]
    total = nn.functional.cross_entropy(
        shifted_logits.float(), shifted_labels, ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return total, int((shifted_labels != IGNORE_INDEX).sum())


class ReplyModel(nn.Module):
    """A causal LM and its tokenizer: a ``GPT2LMHeadModel`` by default, any HF causal LM otherwise."""

    def __init__(self, lm: nn.Module, tokenizer: PreTrainedTokenizerBase, config: ReplyConfig) -> None:
        super().__init__()
        if tokenizer.pad_token_id is None:
            # Many causal-LM tokenizers have no pad token; the end-of-text token pads and attention masks it.
            if tokenizer.eos_token_id is None:
                raise ModelError("the reply tokenizer has neither a pad nor an end-of-text token; add one")
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.lm: Any = lm  # typed loosely: any HF causal LM
        self.tokenizer = tokenizer
        self.config = config

    @property
    def eos_token_id(self) -> int:
        """The id that ends a reply: ``<|endoftext|>`` if the tokenizer has it, else its eos token."""
        vocab = self.tokenizer.get_vocab()
        if END_OF_TEXT in vocab:
            return int(vocab[END_OF_TEXT])
        if self.tokenizer.eos_token_id is None:
            raise ModelError("the reply tokenizer has no end-of-text token; add one so generation can stop")
        return int(self.tokenizer.eos_token_id)

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase, config: ReplyConfig | None = None) -> ReplyModel:
        """A new random-weight GPT-2 of ``config``'s size over ``tokenizer``."""
        config = config or ReplyConfig()
        eos = int(tokenizer.convert_tokens_to_ids(END_OF_TEXT))  # type: ignore[arg-type]
        gpt2 = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=config.n_positions,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            resid_pdrop=config.dropout,
            embd_pdrop=config.dropout,
            attn_pdrop=config.dropout,
            bos_token_id=eos,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )
        return cls(GPT2LMHeadModel(gpt2), tokenizer, config)

    @classmethod
    def from_texts(cls, texts: Sequence[str], config: ReplyConfig | None = None, vocab_size: int = 4096) -> ReplyModel:
        """A new model over a tokenizer trained on ``texts`` (the training split's messages and replies)."""
        return cls.from_tokenizer(train_reply_tokenizer(texts, vocab_size=vocab_size), config)

    @classmethod
    def from_local(cls, path: str | Path, config: ReplyConfig | None = None) -> ReplyModel:
        """Any local HF causal-LM directory (weights + tokenizer), loaded offline: ``--reply-model PATH``."""
        folder = Path(path)
        if not folder.is_dir():
            raise ModelError(f"reply model directory {folder} does not exist; give a local HF causal-LM directory")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            lm = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as err:
            raise ModelError(f"cannot load a causal LM from {folder}: {err}") from err
        tokenizer = load_reply_tokenizer(folder)
        positions = int(getattr(lm.config, "n_positions", 0) or getattr(lm.config, "max_position_embeddings", 1024))
        base = config or ReplyConfig()
        config = ReplyConfig.from_dict({**base.to_dict(), "n_positions": positions})
        lm.eval()  # type: ignore[no-untyped-call]
        return cls(lm, tokenizer, config)

    @classmethod
    def tiny(cls, texts: Sequence[str], seed: int = 0) -> ReplyModel:
        """A random-weight two-layer model over a small tokenizer trained on ``texts``, for fast tests."""
        torch.manual_seed(seed)
        tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
        config = ReplyConfig(n_layer=2, n_head=2, n_embd=32, n_positions=128, max_length=96, max_prompt_tokens=48)
        return cls.from_tokenizer(tokenizer, config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits [B, T, V] from ids [B, T] and mask [B, T] (either padding side)."""
        position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)  # [B, T]; left padding starts at 0
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        logits: torch.Tensor = out.logits
        return logits

    def reply_loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy over the labelled (reply) tokens of a :func:`collate` batch, and their count.

        The output layer runs only on the positions that predict a labelled token, which saves most of the
        vocabulary projection on prompt and padding positions.
        """
        input_ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        position_ids = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # [B, T]
        hidden = self.lm.base_model(
            input_ids=input_ids, attention_mask=mask, position_ids=position_ids
        ).last_hidden_state  # [B, T, H]
        targets = labels[:, 1:]  # [B, T-1]; position t predicts token t+1
        keep = targets != IGNORE_INDEX  # [B, T-1]
        picked = hidden[:, :-1, :][keep]  # [N, H]
        logits = self.lm.get_output_embeddings()(picked)  # [N, V]
        total = nn.functional.cross_entropy(logits.float(), targets[keep], reduction="sum")
        return total, int(keep.sum())

    def encode(self, prompt: str, reply: str) -> EncodedExample:
        return encode_example(
            self.tokenizer,
            prompt,
            reply,
            max_length=self.config.max_length,
            max_prompt_tokens=self.config.max_prompt_tokens,
        )

    @torch.no_grad()
    def generate_ids(self, prompts: Sequence[str], settings: GenerationSettings) -> list[list[int]]:
        """The new token ids of each prompt's reply, end-of-text excluded; at most ``max_new_tokens`` each."""
        if not prompts:
            return []
        rows = [prompt_ids(self.tokenizer, p, self.config.max_prompt_tokens) for p in prompts]
        width = max(len(r) for r in rows)
        room = self.config.n_positions - width
        if room < 1:
            raise ModelError(f"prompt of {width} tokens leaves no room in {self.config.n_positions} positions")
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)  # [B, P], left-padded
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
            if settings.do_sample
            else {"do_sample": False}
        )
        if settings.repetition_penalty != 1.0:
            sampling["repetition_penalty"] = settings.repetition_penalty
        if settings.no_repeat_ngram_size > 0:
            sampling["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
        was_training = self.training
        self.eval()
        try:
            out = self.lm.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=min(settings.max_new_tokens, room),
                eos_token_id=self.eos_token_id,
                pad_token_id=self.pad_token_id,
                **sampling,
            )  # [B, P + new]
        finally:
            self.train(was_training)
        replies = []
        for row in out[:, width:].tolist():
            if self.eos_token_id in row:
                row = row[: row.index(self.eos_token_id)]
            replies.append([t for t in row if t != self.pad_token_id])
        return replies

    def generate(self, prompts: Sequence[str], settings: GenerationSettings | None = None) -> list[str]:
        """The reply text (slots still as ``{{Slot}}``) for each prompt of :func:`format_prompt`."""
        settings = settings or GenerationSettings()
        return [
            str(self.tokenizer.decode(row, skip_special_tokens=True)).strip()
            for row in self.generate_ids(prompts, settings)
        ]
