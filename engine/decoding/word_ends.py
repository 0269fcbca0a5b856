"""Greedy decoding that decides where a word ends by the probability of ending it.

Token-by-token argmax compares one token that would lengthen the word with one token that would end it, though
every space, punctuation and end-of-text token ends it: after "The quick brown" a small model's likeliest single
token may be "ened" (7%) while a word boundary has 80% in all. Greedy then writes "brownened". Inside a word,
this rule weighs the word's end as one outcome: when the total probability of the tokens that end the word is
higher than that of the likeliest token that lengthens it, the likeliest ending token is chosen instead. Sampling
needs no such rule (it draws the boundary with its true total probability) and beam search scores whole
continuations.
"""

from __future__ import annotations

import torch

from engine.decoding.word_units import APOSTROPHES, ends_inside_word, is_word_char


def lengthens_word(token: bytes) -> bool:
    """True when text made of ``token`` glued onto a word stays one word: it starts with a letter, digit,
    underscore, apostrophe ("n't") or hyphen ("to" + "-day", "well" + "-known": a compound is a longer word), or with
    bytes that are not a whole character yet (part of a letter)."""
    text = token.decode("utf-8", errors="ignore")
    if not text:
        return bool(token)  # a fragment of a multi-byte character; b"" (special tokens) ends the word
    return is_word_char(text[0]) or text[0] in APOSTROPHES or text[0] == "-"


def token_ends_inside_word(token: bytes) -> bool:
    """True when ``token``'s text ends with a word character, so the word it is part of may go on (not after a Han
    character: in Chinese and Japanese each is a word of its own, ``word_units``)."""
    return ends_inside_word(token.decode("utf-8", errors="ignore"))


class WordEnds:
    """The token table's word-lengthening mask, and the greedy choice that uses it."""

    def __init__(self, token_bytes: list[bytes], device: torch.device | str) -> None:
        self.lengthens = torch.tensor([lengthens_word(b) for b in token_bytes], dtype=torch.bool, device=device)
        self.ends = ~self.lengthens
        self.inside = [token_ends_inside_word(b) for b in token_bytes]

    def choose(self, scores: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        """``choice`` (the argmax ``[1, 1]`` of ``scores [1, vocab]``), replaced by the likeliest word-ending token
        when ending the word is likelier in total than the chosen token lengthening it. Tensor ops only: no
        synchronisation with the device."""
        probs = torch.softmax(scores, dim=-1)
        p_end = (probs * self.ends).sum(dim=-1, keepdim=True)
        p_chosen = probs.gather(-1, choice)
        best_ending = scores.masked_fill(self.lengthens, float("-inf")).argmax(dim=-1, keepdim=True)
        switch = self.lengthens[choice] & (p_end > p_chosen)
        return torch.where(switch, best_ending, choice)
