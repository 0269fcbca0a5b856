"""Alternatives that differ where a writer chooses: in their first word.

Plain beam search over a sentence-long suggestion returns beams that share their first ten words and differ in the
last one. Here the first step keeps the ``rows`` likeliest first tokens (under the same penalties, healing and
restrictions as any step) and each row is then continued on its own, greedily, to the stop rule: one batched
forward per step, as beam search, so it costs the same. At the end the branches are grouped by their first word
(" N" + "ew" and " New" are one choice) and the ``num_alternatives`` whose openings are likeliest are returned,
most likely first; alternatives that are only punctuation or whitespace are dropped.

What streams stays: a stream shows one branch from start to end, the likeliest first token's (row 0), also once it
has finished, and that branch is listed first; the others fill in beside it. Each row ends before its first
doubtful word as it goes (``doubt``; the same cut greedy makes), so nothing streamed is cut away at the end.

The streamed branch runs first, alone, and the others follow it: each row is its own greedy continuation, so
the order changes nothing in what they write, but on a CPU a step of six rows costs two to three times a step of
one (the int4 kernel unpacks its weights again for every few rows: SmolLM2's streamed tokens came every ~60 ms,
now every ~25), and what a writer waits for is the streamed branch. The trunk, too, is one row. When the streamed branch ends, ``restart`` names what the other rows read from
the prompt on (the trunk and each one's first token), and the caller starts their rows there.

The interface is ``BeamSearch``'s (``step``, ``best``, ``results``, ``steps``), so the generator runs either.
"""

from __future__ import annotations

import re

import torch

from engine.decoding.beam import NEG_INF, Hypothesis
from engine.decoding.doubt import doubt_cut
from engine.decoding.results import Completion, first_word, opening_logprob, worth_listing
from engine.decoding.text_stream import TextStream, complete_text, truncate_pieces
from engine.decoding.word_ends import WordEnds
from engine.decoding.word_limit import continues_word, last_whole_word_end, stops_inside_word

_WORD_BYTE = re.compile(rb"\w|[\x80-\xff]")


def branch_rows(num_beams: int, num_alternatives: int, most: int) -> int:
    """Rows to branch into: the beams, and enough spare ones that dropping duplicate first words and junk still
    leaves ``num_alternatives``."""
    return max(1, min(most, max(num_beams, 2 * num_alternatives)))


class FirstWordBranches:
    def __init__(self, rows: int, num_alternatives: int, max_new_tokens: int, token_bytes: list[bytes],
                 eos_token_id: int | None, healed_prefix: bytes, stop, device: torch.device, run_on: int = 0,
                 min_word_probability: float = 0.0, word_ends: WordEnds | None = None) -> None:
        """``run_on``: tokens past ``max_new_tokens`` a branch may take to finish its word (``word_limit``);
        ``min_word_probability``: each branch ends before its first word less likely than that (``doubt``);
        ``word_ends``: where the prompt ends inside a word, greedy's rule for where a word ends, so the streamed
        branch ends the typed word when that is likelier in all."""
        self.rows = rows
        self.num_alternatives = num_alternatives
        self.max_new_tokens = max_new_tokens
        self.token_bytes = token_bytes
        self.eos = eos_token_id
        self.skip = len(healed_prefix)
        self.stop = stop
        self.device = device
        self.run_on = run_on
        self.min_word_probability = min_word_probability
        self.word_ends = word_ends
        self.streamed: Completion | None = None  # how the streamed branch (the trunk, then row 0) ended
        self.trunk = Hypothesis((), (), b"", 0.0)
        self.branched = False
        self.running: list[Hypothesis] = []
        #: The rows of ``running`` the next logprobs belong to: the streamed row alone, then the others.
        self.phase_rows: list[int] = [0]
        #: Set by a step after which the rows start again from the prompt: the tokens each reads after it.
        self.restart: list[tuple[int, ...]] | None = None
        self.finished: list[Completion] = []
        self.steps = 0  # forwards read, all phases together
        self._length = 0  # tokens the rows of the current phase have taken after the prompt
        self._branch_length = 0

    def step(self, logprobs: torch.Tensor) -> tuple[list[int], list[int]] | None:
        """Next tokens from ``logprobs`` (``[1, vocab]`` at the first step, ``[rows, vocab]`` after); returns
        ``(parents, tokens)`` for the next forward, or None when every branch has ended."""
        self.steps += 1
        self._length += 1
        self.restart = None
        if not self.branched:
            return self._trunk_step(logprobs[0])
        best = torch.max(logprobs, dim=-1)
        tokens, token_logprobs = best.indices.tolist(), best.values.tolist()
        for row, token, logprob in zip(self.phase_rows, tokens, token_logprobs):
            hypothesis = self.running[row]
            if hypothesis.total == NEG_INF or logprob == NEG_INF:
                self.running[row] = _dead(hypothesis)
            elif (self._length > self.max_new_tokens and token != self.eos
                    and not continues_word(self.token_bytes[token], complete_text(hypothesis.raw[self.skip:]))):
                self._finish(hypothesis, "length", row=row)  # its word ended: what starts next is not kept
                self.running[row] = _dead(hypothesis)
            else:
                self.running[row] = self._extend(hypothesis, token, logprob, row)
        return self._next()

    def _trunk_step(self, logprobs: torch.Tensor) -> tuple[list[int], list[int]] | None:
        """Before the branch point every row holds the same text (the trunk); branch at the first token that
        starts a word, when there is a choice. Until then (a healed word that ends as typed, a comma) the one
        likeliest token is taken: branching there would give alternatives that differ only in that token."""
        if self.eos is not None and not self.trunk.tokens:
            logprobs = logprobs.clone()
            logprobs[self.eos] = NEG_INF  # ending right away is no alternative to write
        top = torch.topk(logprobs, min(self.rows, logprobs.numel()))
        options = [(token, logprob) for token, logprob in zip(top.indices.tolist(), top.values.tolist())
                   if logprob != NEG_INF]
        if not options:
            return None
        if self._at_typed_word_end():
            options = self._word_end_first(logprobs, options)
        token, logprob = options[0]
        text = self.token_bytes[token][0 if self.trunk.tokens else self.skip :]
        if len(options) > 1 and (_WORD_BYTE.search(text) or token == self.eos):
            self.branched = True
            self._branch_length = self._length - 1
            # Only rows that start alive: a constrained step (healing) may allow fewer tokens than rows.
            self.running = [self._extend(self.trunk, t, lp, row) for row, (t, lp) in enumerate(options)]
            self.phase_rows = [0]
            return self._next()
        self.trunk = self._extend(self.trunk, token, logprob, 0)
        if self.trunk.total == NEG_INF:  # the trunk itself ended (end-of-text, the stop rule)
            return None
        if self._length >= self.max_new_tokens:
            self._finish(self.trunk, "length", row=0)
            return None
        return [0], [token]

    def _at_typed_word_end(self) -> bool:
        """Nothing written yet after a prompt that ends inside a word (past the healing step, which chooses
        among spellings of the typed word, not whether it ends)."""
        if self.word_ends is None or (self.skip and not self.trunk.tokens):
            return False
        return not complete_text(self.trunk.raw[self.skip :])

    def _word_end_first(self, logprobs: torch.Tensor, options: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``options`` with the likeliest word-ending token first when ending the typed word (every space,
        punctuation and end-of-text token together, as greedy weighs it: ``word_ends``) is likelier than the
        likeliest token that lengthens it: "meeting to" streams " the", and "day," stays an alternative."""
        assert self.word_ends is not None  # _at_typed_word_end checked it
        likeliest = torch.tensor([[options[0][0]]], device=logprobs.device)
        ender = int(self.word_ends.choose(logprobs.unsqueeze(0), likeliest))
        if ender == options[0][0]:
            return options
        rest = [option for option in options if option[0] != ender]
        return [(ender, float(logprobs[ender])), *rest][: len(options)]

    def _extend(self, hypothesis: Hypothesis, token: int, logprob: float, row: int) -> Hypothesis:
        if token == self.eos:
            self._finish(hypothesis, "eos", row=row)
            return _dead(hypothesis)
        extended = hypothesis.extend(token, logprob, self.token_bytes[token])
        cuts = []
        if self.stop.active and (cut := self.stop.cut(complete_text(extended.raw[self.skip :]))) is not None:
            cuts.append(cut)
        if self.min_word_probability > 0:
            pieces = self._pieces(extended)
            if (keep := doubt_cut(pieces, extended.logprobs, self.min_word_probability)) is not None:
                cuts.append(len("".join(pieces[:keep])))
        if cuts:
            self._finish(extended, "stop", min(cuts), row=row)
            return _dead(extended)
        return extended

    def _pieces(self, hypothesis: Hypothesis) -> list[str]:
        """What each of its tokens adds to the text (the healed prefix left out)."""
        stream = TextStream(skip=hypothesis.raw[: self.skip])
        return [stream.push(self.token_bytes[t]) for t in hypothesis.tokens]

    def _next(self) -> tuple[list[int], list[int]] | None:
        """The next forward of the current phase's rows (a row that has ended pads it, fed its last token again);
        when they have all ended, the other rows from the branch point (``restart``), or None when none is left."""
        while True:
            self._end_rows_past_the_limit()
            if any(self.running[row].total != NEG_INF for row in self.phase_rows):
                return list(range(len(self.phase_rows))), [self.running[row].tokens[-1] for row in self.phase_rows]
            waiting = [row for row in range(1, len(self.running))
                       if row not in self.phase_rows and self.running[row].total != NEG_INF]
            if not waiting:
                self.restart = None
                return None
            # The others start from the branch point, where each has its first token: lengths count from there.
            # Always as many rows (ended ones pad), so the caller keeps one set of rows for them, not one per count.
            while len(waiting) < self.rows - 1:
                self.running.append(_dead(self.running[waiting[0]]))
                waiting.append(len(self.running) - 1)
            self.phase_rows = waiting
            self._length = self._branch_length + 1
            self.restart = [self.running[row].tokens for row in waiting]

    def _end_rows_past_the_limit(self) -> None:
        if self._length < self.max_new_tokens:
            return
        running_on = self._length < self.max_new_tokens + self.run_on
        for row in self.phase_rows:
            hypothesis = self.running[row]
            if hypothesis.total == NEG_INF:
                continue
            text = complete_text(hypothesis.raw[self.skip :])
            if running_on and stops_inside_word(text):
                continue  # past the limit only to finish its word
            self._finish(hypothesis, "length", last_whole_word_end(text), row=row)
            self.running[row] = _dead(hypothesis)

    def _finish(self, hypothesis: Hypothesis, reason: str, cut: int | None = None, row: int | None = None) -> None:
        """Record ``hypothesis`` as finished (cut to ``cut`` characters); ``row`` 0 is the branch a stream shows."""
        pieces = self._pieces(hypothesis)
        tokens, logprobs = hypothesis.tokens, hypothesis.logprobs
        if cut is not None:
            pieces = truncate_pieces(pieces, cut)
            tokens, logprobs = tokens[: len(pieces)], logprobs[: len(pieces)]
        completion = Completion(text="".join(pieces), logprob=sum(logprobs), token_ids=tuple(tokens),
                                token_logprobs=tuple(logprobs), token_texts=tuple(pieces), finish_reason=reason)
        self.finished.append(completion)
        if row == 0:
            self.streamed = completion

    # --- what a stream shows, and the results ---------------------------------------------------------------

    def best(self) -> tuple[str, float | None, int]:
        """The streamed branch (the trunk, then the likeliest first token's row) so far, running or finished: its
        text, mean log-probability and length. Never another branch: what streams is the start of what stays."""
        hypothesis = (self.running[0] if self.running else None) if self.branched else self.trunk
        if hypothesis is not None and hypothesis.total != NEG_INF:
            length = len(hypothesis.tokens)
            return complete_text(hypothesis.raw[self.skip :]), hypothesis.total / max(length, 1), length
        if self.streamed is not None:
            streamed = self.streamed
            return streamed.text, streamed.mean_logprob if streamed.token_ids else None, len(streamed.token_ids)
        if self.finished:
            top = max(self.finished, key=opening_logprob)
            return top.text, top.mean_logprob if top.token_ids else None, len(top.token_ids)
        return "", None, 0

    def row_tokens(self) -> list[tuple[int, ...]]:
        """The tokens each row of the next scores continues the prompt with: the trunk's one row until the branch
        point, then those of the current phase's rows."""
        if not self.branched:
            return [self.trunk.tokens]
        return [self.running[row].tokens for row in self.phase_rows]

    def streamed_final(self) -> bool:
        """Whether the streamed branch has ended: ``best`` will not change again and leads ``results`` (unless it
        holds no word at all, which no list keeps)."""
        return self.streamed is not None

    def results(self) -> list[Completion]:
        """One alternative per distinct first word, likeliest opening first (ties: the likelier whole text)."""
        for row, hypothesis in enumerate(self.running):  # stopped before its last step (the context is full)
            if hypothesis.total != NEG_INF:
                self._finish(hypothesis, "length", row=row)
        self.running = []
        ranked = sorted(self.finished, key=lambda c: (opening_logprob(c), c.logprob), reverse=True)
        if self.streamed is not None:  # the streamed branch first (and for its first word), the rest beside it
            ranked.remove(self.streamed)
            ranked.insert(0, self.streamed)
        chosen: list[Completion] = []
        words: set[str] = set()
        for completion in worth_listing(ranked):
            word = first_word(completion.text)
            if word in words:
                continue
            words.add(word)
            chosen.append(completion)
        return chosen[: self.num_alternatives]


def _dead(hypothesis: Hypothesis) -> Hypothesis:
    """A row that has ended: it only pads the batch (its cache row is fed its own last token again)."""
    return Hypothesis(hypothesis.tokens or (0,), hypothesis.logprobs, hypothesis.raw, NEG_INF)
