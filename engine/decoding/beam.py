"""Beam search bookkeeping: which hypotheses live on, which are finished, and the final alternatives.

The model side (one batched forward per step, cache rows reordered in place) is the generator's job; this class
only sees each step's log-probabilities ``[beams, vocab]`` and answers with the parent row and the token of every
beam of the next step. Scores follow Hugging Face: a finished hypothesis scores
``sum of log-probabilities / length ** length_penalty``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.decoding.results import Completion
from engine.decoding.stopping import StopRule
from engine.decoding.text_stream import TextStream, complete_text, truncate_pieces
from engine.decoding.word_limit import last_whole_word_end

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    raw: bytes  # bytes of every token, the healed prefix included
    total: float  # sum of ``logprobs``; -inf marks a dead row that only pads the batch

    def extend(self, token: int, logprob: float, data: bytes) -> Hypothesis:
        return Hypothesis(self.tokens + (token,), self.logprobs + (logprob,), self.raw + data, self.total + logprob)


@dataclass(frozen=True)
class FinishedHypothesis:
    score: float
    completion: Completion


class BeamSearch:
    def __init__(
        self,
        num_beams: int,
        num_alternatives: int,
        length_penalty: float,
        max_new_tokens: int,
        token_bytes: list[bytes],
        eos_token_id: int | None,
        healed_prefix: bytes,
        stop: StopRule,
        device: torch.device,
        whole_words: bool = False,
    ) -> None:
        """``whole_words``: a beam at the token limit ends at its last whole word (``word_limit``)."""
        self.num_beams = num_beams
        self.num_alternatives = num_alternatives
        self.length_penalty = length_penalty
        self.max_new_tokens = max_new_tokens
        self.token_bytes = token_bytes
        self.eos = eos_token_id
        self.skip = len(healed_prefix)
        self.stop = stop
        self.device = device
        self.whole_words = whole_words
        self.running: list[Hypothesis] = [Hypothesis((), (), b"", 0.0)]
        self.finished: list[FinishedHypothesis] = []
        self.steps = 0
        self.restart: list[tuple[int, ...]] | None = None  # beams never start again from the prompt

    # --- one step ------------------------------------------------------------------------------------------

    def step(self, logprobs: torch.Tensor) -> tuple[list[int], list[int]] | None:
        """Choose the next beams from ``logprobs`` ``[len(running), vocab]``.

        Returns ``(parents, tokens)`` for the next forward (``parents[i]`` = the row beam i continues), or None
        when the search is over.
        """
        self.steps += 1
        vocab = logprobs.shape[-1]
        totals = torch.tensor([h.total for h in self.running], dtype=logprobs.dtype, device=logprobs.device)
        flat_scores = (totals.unsqueeze(1) + logprobs).view(-1)
        flat_logprobs = logprobs.reshape(-1)
        parents: list[int] = []
        survivors: list[Hypothesis] = []
        rank = 0
        fetched = 0
        candidates: list[tuple[float, int, float]] = []
        # Twice the beam count is almost always enough (some candidates finish instead of running on); fetch
        # more only when it is not.
        want = min(2 * self.num_beams, flat_scores.numel())
        while len(survivors) < self.num_beams:
            if rank == len(candidates):
                if fetched >= flat_scores.numel():
                    break
                want = min(max(want, 2 * fetched), flat_scores.numel())
                top = torch.topk(flat_scores, want)
                picked = torch.stack((top.values, flat_logprobs[top.indices]))
                values, token_logprobs = picked.tolist()
                indices = top.indices.tolist()
                candidates.extend(zip(values[fetched:], indices[fetched:], token_logprobs[fetched:]))
                fetched = want
                continue
            score, flat, token_logprob = candidates[rank]
            rank += 1
            if score == NEG_INF:
                break
            parent, token = divmod(flat, vocab)
            hypothesis = self.running[parent]
            in_top_beams = rank <= self.num_beams
            if token == self.eos:
                if in_top_beams:
                    self._finish(hypothesis, "eos", extra=(token_logprob, 1))
                continue
            extended = hypothesis.extend(token, token_logprob, self.token_bytes[token])
            if self.stop.active:
                text = complete_text(extended.raw[self.skip :])
                cut = self.stop.cut(text)
                if cut is not None:
                    if in_top_beams:
                        self._finish(extended, "stop", cut=cut)
                    continue
            parents.append(parent)
            survivors.append(extended)
        if not survivors:
            self.running = []
            return None
        if self.steps >= self.max_new_tokens:
            for hypothesis in survivors:
                cut = last_whole_word_end(complete_text(hypothesis.raw[self.skip :])) if self.whole_words else None
                self._finish(hypothesis, "length", cut=cut)
            self.running = []
            return None
        # Fewer live candidates than beams (a constrained first step, say): pad with dead rows.
        while len(survivors) < self.num_beams:
            parents.append(parents[0])
            survivors.append(Hypothesis(survivors[0].tokens, survivors[0].logprobs, survivors[0].raw, NEG_INF))
        self.running = survivors
        if self._settled():
            self.running = []
            return None
        return parents, [h.tokens[-1] for h in survivors]

    def _score(self, total: float, length: int) -> float:
        return total / (max(length, 1) ** self.length_penalty)

    def _finish(self, hypothesis: Hypothesis, reason: str, extra: tuple[float, int] = (0.0, 0), cut: int | None = None):
        stream = TextStream(skip=hypothesis.raw[: self.skip])
        pieces = [stream.push(self.token_bytes[t]) for t in hypothesis.tokens]
        tokens, logprobs = hypothesis.tokens, hypothesis.logprobs
        if cut is not None:
            pieces = truncate_pieces(pieces, cut)
            tokens, logprobs = tokens[: len(pieces)], logprobs[: len(pieces)]
        total = sum(logprobs)
        extra_logprob, extra_tokens = extra
        if cut is not None:
            # Rank by the whole hypothesis, the token that showed the stop point included: its probability is
            # the model's belief that the word (sentence, line) ends there, as end-of-text's is for eos.
            extra_logprob += sum(hypothesis.logprobs[len(tokens):])
            extra_tokens += len(hypothesis.tokens) - len(tokens)
        completion = Completion(
            text="".join(pieces),
            logprob=total,
            token_ids=tuple(tokens),
            token_logprobs=tuple(logprobs),
            token_texts=tuple(pieces),
            finish_reason=reason,
        )
        score = self._score(total + extra_logprob, len(tokens) + extra_tokens)
        self.finished.append(FinishedHypothesis(score, completion))

    def _settled(self) -> bool:
        """True when no running beam can still beat the worst of the best distinct finished alternatives."""
        best = self._distinct_finished()
        if len(best) < self.num_alternatives:
            return False
        worst_kept = best[self.num_alternatives - 1].score
        longest = self.max_new_tokens + (1 if self.eos is not None else 0)
        for hypothesis in self.running:
            if hypothesis.total == NEG_INF:
                continue
            # Log-probabilities only add up to less; the length term helps most at the longest length when
            # length_penalty > 0, and at the current length otherwise.
            length = longest if self.length_penalty > 0 else len(hypothesis.tokens)
            if self._score(hypothesis.total, length) > worst_kept:
                return False
        return True

    # --- results -------------------------------------------------------------------------------------------

    def _distinct_finished(self) -> list[FinishedHypothesis]:
        ranked = sorted(self.finished, key=lambda f: f.score, reverse=True)
        seen: set[str] = set()
        distinct = []
        for item in ranked:
            if item.completion.text in seen:
                continue
            seen.add(item.completion.text)
            distinct.append(item)
        return distinct

    def best_text(self) -> str:
        """Text of the best hypothesis so far, finished or running (what a stream shows)."""
        return self.best()[0]

    def best(self) -> tuple[str, float | None, int]:
        """The best hypothesis so far: its text, mean log-probability per token (None before any) and length."""
        best_score, best = NEG_INF, None
        if self.finished:
            top = max(self.finished, key=lambda f: f.score)
            best_score = top.score
            best = (top.completion.text, top.completion.mean_logprob, len(top.completion.token_ids))
        for hypothesis in self.running:
            if hypothesis.total == NEG_INF:
                continue
            score = self._score(hypothesis.total, len(hypothesis.tokens))
            if best is None or score > best_score:
                length = len(hypothesis.tokens)
                best_score = score
                best = (complete_text(hypothesis.raw[self.skip :]), hypothesis.total / max(length, 1), length)
        if best is None or not best[2]:
            return (best[0] if best else ""), None, 0
        return best

    def row_tokens(self) -> list[tuple[int, ...]]:
        """The tokens each running beam continues the prompt with, one row of the next forward each."""
        return [h.tokens for h in self.running]

    def streamed_final(self) -> bool:
        """Never before the search ends: any hypothesis may still overtake the one shown."""
        return False

    def results(self) -> list[Completion]:
        """The distinct best finished hypotheses, best first; empty ones only when nothing else was found."""
        for hypothesis in self.running:  # stopped before its last step (the context is full): they end here
            if hypothesis.total != NEG_INF:
                self._finish(hypothesis, "length")
        self.running = []
        distinct = self._distinct_finished()
        non_empty = [item for item in distinct if item.completion.text]
        chosen = (non_empty or distinct)[: self.num_alternatives]
        return [item.completion for item in chosen]


def is_identity(parents: list[int]) -> bool:
    return all(parent == row for row, parent in enumerate(parents))


def length_normalised(completion: Completion, length_penalty: float) -> float:
    """The ranking score of a completion that did not end with end-of-text."""
    return completion.logprob / (max(len(completion.token_ids), 1) ** length_penalty)

