"""Training a byte-level BPE tokenizer (GPT-2 style) with Hugging Face ``tokenizers``."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from engine.decoding.fim import FIM_TOKENS
from engine.loading.tokenizer import TextTokenizer

END_OF_TEXT = "<|endoftext|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 8192, fim: bool = False) -> TextTokenizer:
    """A byte-level BPE whose id 0 is ``<|endoftext|>`` (with ``fim``, ids 1-3 are the fill-in-the-middle tokens,
    which tell decoding the model reads the text after the cursor); every byte is representable, so nothing is ever
    <unk>."""
    if vocab_size < 300:
        raise ValueError(f"vocab_size {vocab_size} is too small: byte-level BPE needs at least 300")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, *(FIM_TOKENS if fim else ())],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tokenizer)
