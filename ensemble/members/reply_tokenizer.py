"""The reply member's tokenizer: byte-level BPE trained locally, prompt markers and one token per slot.

Bitext responses are templates with slots such as ``{{Order Number}}``. Each slot seen in the training text is
added as one token, so the model emits a slot (filled later by :mod:`ensemble.members.reply_slots`) instead of
spelling out an invented value. Slots are removed from the text the BPE merges are learned on, so no merge
spends vocabulary on their pieces. The result is wrapped as a ``PreTrainedTokenizerFast`` for transformers.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from ensemble.errors import ModelError

logger = logging.getLogger(__name__)

END_OF_TEXT = "<|endoftext|>"
PAD = "<|pad|>"
INTENT_MARK = "<|intent|>"
FACTS_MARK = "<|facts|>"
USER_MARK = "<|user|>"
REPLY_MARK = "<|reply|>"
SPECIAL_TOKENS: tuple[str, ...] = (END_OF_TEXT, PAD, INTENT_MARK, FACTS_MARK, USER_MARK, REPLY_MARK)

# A slot is "{{" + a name without braces or line breaks + "}}", e.g. "{{Order Number}}".
SLOT_PATTERN = re.compile(r"\{\{([^{}\r\n]+)\}\}")


def normalise_text(text: str) -> str:
    """Unix line ends and no surrounding blanks (Bitext responses use ``\\r\\n``)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def find_slots(text: str) -> list[str]:
    """The slots of ``text`` in order of appearance, braces included (repeats kept)."""
    return [match.group(0) for match in SLOT_PATTERN.finditer(text)]


def count_slots(texts: Iterable[str]) -> Counter[str]:
    """How often each slot (braces included) occurs across ``texts``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(find_slots(text))
    return counts


def train_reply_tokenizer(
    texts: Sequence[str],
    *,
    vocab_size: int = 6000,
    min_frequency: int = 2,
    min_slot_count: int = 1,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` (instructions and responses) and add the special and slot tokens.

    Slots occurring at least ``min_slot_count`` times in ``texts`` become single tokens.
    """
    if not texts:
        raise ModelError("no texts to train the reply tokenizer on; give the training split's instructions")
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ModelError(
            f"vocab_size {vocab_size} is below the 256 byte symbols plus {len(SPECIAL_TOKENS)} special "
            "tokens; use at least 1000"
        )
    cleaned = [SLOT_PATTERN.sub(" ", normalise_text(text)) for text in texts]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(cleaned, trainer=trainer)
    slot_counts = count_slots(normalise_text(text) for text in texts)
    slots = sorted(slot for slot, count in slot_counts.items() if count >= min_slot_count)
    # Plain added tokens (not special): they survive decode(skip_special_tokens=True).
    tokenizer.add_tokens([AddedToken(slot, normalized=False) for slot in slots])
    logger.info("trained a reply tokenizer: %s tokens of which %s are slots", tokenizer.get_vocab_size(), len(slots))
    return wrap_tokenizer(tokenizer)


def wrap_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """The ``tokenizers`` object as a transformers tokenizer, padding on the left (batched generation)."""
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=PAD,
        additional_special_tokens=[INTENT_MARK, FACTS_MARK, USER_MARK, REPLY_MARK],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    return fast


def slot_tokens(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The slot tokens a tokenizer knows as single tokens, sorted."""
    return sorted(token for token in tokenizer.get_vocab() if SLOT_PATTERN.fullmatch(token))


def load_reply_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load a tokenizer directory from ``save_pretrained`` (or any local HF tokenizer); never downloads."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelError(f"tokenizer directory {folder} does not exist; give a local directory with tokenizer.json")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load a tokenizer from {folder}: {err}") from err
    return tokenizer
