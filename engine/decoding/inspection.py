"""What the model would write next at a point of a suggestion: its top next tokens with their probabilities.

The editor shows them when the user hovers a word of the ghost text, and branches from the one the user picks.
The distribution is the one decoding uses at that point, not a fresh look at the text:

- the context is the generator's prompt for ``text`` (same tail window, same token healing), followed by the
  tokens of the continuation shown so far;
- with no continuation, the first new token is constrained as healing constrains it (it must restart the token
  that was backed off), and its text is what it adds after the bytes the user typed. That step only shows in the
  suggestion when its token added something ("wn" after "bro"); when it ended the word as typed (" the" after
  "it was the"), the first word shown (" first") came from the step after it, so given the suggestion's text
  (``next_text``) the candidates are that step's;
- the memory is mixed in as decoding mixes it (``Generator.with_memory``), when the settings have it on;
- the repetition penalties of the settings apply (no-repeat n-grams, DRY, the never-suggest list), as they
  do to every decoding step; temperature and the
  sampling filters do not: they shape the draw, not the model's belief (the generator reports log-probabilities
  the same way).

The continuation is read as the tokenizer splits it, which is how the generator itself produced it whenever it
wrote canonical tokens (nearly always); branching from a point re-reads the text the same way.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.decoding.processors import SeenTokens, restrict_to
from engine.decoding.settings import DecodingSettings
from engine.memory.sources import MemorySource


def next_token_candidates(
    generator, text: str, continuation: str = "", k: int = 10, settings: DecodingSettings | None = None,
    next_text: str = "",
) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``text + continuation`` as ``(text it adds, probability)``, most
    likely first. Special tokens (end of text) and tokens that end inside a character (they cannot be inserted
    as text on their own) are left out, so the probabilities may add up to less than one. With no continuation
    after a healed prompt, a candidate's text may be "": the token that ends the typed word as it is; unless
    ``next_text``, what the suggestion shows from this point, starts after the typed word ends (" first" after
    "it was the"): then they are the candidates of the step that wrote it, the one after the healing step."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    settings = settings if settings is not None else DecodingSettings()
    if not isinstance(settings, DecodingSettings):
        raise TypeError(f"settings must be DecodingSettings, not {type(settings).__name__}")
    if not isinstance(continuation, str):
        raise TypeError(f"continuation must be a str, not {type(continuation).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
    if not isinstance(next_text, str):
        raise TypeError(f"next_text must be a str, not {type(next_text).__name__}")
    _context_ids, skip, _model, probabilities, _memory = _distributions(generator, text, continuation, settings,
                                                                        next_text)
    with torch.inference_mode():
        order = torch.argsort(probabilities, descending=True)
        # Enough to fill k after skipping special and partial-character tokens, in one transfer.
        wanted = min(len(order), k + 64)
        top_ids = order[:wanted].tolist()
        top_probabilities = probabilities[order[:wanted]].tolist()
    candidates: list[tuple[str, float]] = []
    for token, probability in zip(top_ids, top_probabilities):
        if probability <= 0.0:
            break
        piece = _token_text(generator, token, skip)
        if piece is not None:
            candidates.append((piece, probability))
            if len(candidates) == k:
                break
    return candidates


def memory_source(generator, text: str, continuation: str, next_text: str,
                  settings: DecodingSettings | None = None) -> MemorySource | None:
    """Where the memory got the token that starts ``next_text`` after ``text + continuation`` (the hovered word
    of a suggestion), with the memory's share of that token's probability; None when the memory had no part."""
    settings = settings if settings is not None else DecodingSettings()
    if not settings.memory or not next_text:
        return None
    context, skip, model, mixed, memory = _distributions(generator, text, continuation, settings, next_text)
    match = memory.longest(context)
    cache = memory.weights.cache
    query = generator.latest_states(1) if cache is not None else None  # the forward behind ``mixed``
    candidates = set(match.ids if match is not None else ())
    if query is not None:
        candidates.update(memory.states.likely_followers(query[0]))
    best, best_length = None, 0
    for token in sorted(candidates):
        piece = _token_text(generator, token, skip)
        if piece and next_text.startswith(piece) and len(piece) > best_length and mixed[token] > 0:
            best, best_length = token, len(piece)
    if best is None:
        return None
    w = memory.weights.weight(match)
    lam, cache_p, pair = (memory.states.explain(query[0], best, cache) if query is not None and cache is not None
                          else (0.0, 0.0, None))
    model_part = (1 - lam) * (1 - w) * float(model[best])
    share = max(0.0, (float(mixed[best]) - model_part) / float(mixed[best]))
    ngram_p = match.counts[match.ids.index(best)] / match.count if match is not None and best in match.ids else 0.0
    if pair is not None and lam * cache_p > (1 - lam) * w * ngram_p:  # the cache gave more of it than the n-grams
        source = memory.cache_source(pair, generator.token_bytes)
    else:
        source = memory.source_of(context, best, generator.token_bytes)
    return None if source is None else replace(source, share=share)


def _distributions(generator, text: str, continuation: str, settings: DecodingSettings, next_text: str = ""):
    """(context, healed bytes to drop from the next token, the model's next-token probabilities, the ones
    decoding uses (with the memory when on), the memory or None): exactly what decoding sees at that point."""
    context, allowed, skip = _context(generator, text, continuation, settings, next_text)
    memory = generator.memory_for(text, settings)
    logits = generator.logits_after(context)
    with torch.inference_mode():
        # Exactly the penalties decoding applies after these tokens (see ``Generator._single``).
        seen = SeenTokens(context, generator.vocab_size, 1, generator.device,
                          settings.repetition_penalty, settings.no_repeat_ngram_size,
                          generator.guards.dry(settings), generator.guards.banned(settings, context),
                          generator.masked_ids(settings))
        scores = seen.apply(logits.float())
        if allowed is not None:
            scores = restrict_to(scores, allowed)
        model = torch.softmax(scores, dim=-1)[0]
        mixed = torch.softmax(generator.with_memory(scores, memory, [context]), dim=-1)[0]
    return context, skip, model, mixed, memory


def _context(generator, text: str, continuation: str, settings: DecodingSettings, next_text: str = ""):
    """(token ids read before the next token, ids it is restricted to or None, healed bytes to drop from it)."""
    prompt = generator.prepare(text, settings)
    if not continuation:
        ended = _word_ended_as_typed(generator, prompt.healed_prefix, next_text)
        if ended is not None:  # the healing step wrote nothing that shows: the step after it wrote ``next_text``
            return prompt.tokens + [ended], None, 0
        return prompt.tokens, prompt.allowed_first, len(prompt.healed_prefix)
    # The continuation's first token restarted the backed-off bytes: it is read with them in front.
    try:
        written = prompt.healed_prefix.decode("utf-8") + continuation
        context = prompt.tokens + generator.tokenizer.encode(written)
    except UnicodeDecodeError:  # the backed-off token ended inside a character: read the prompt unhealed
        plain = generator.prepare(text, settings.replace(token_healing=False))
        context = plain.tokens + generator.tokenizer.encode(continuation)
    max_context = generator.model.max_context
    if max_context is not None and len(context) > max_context:
        context = context[len(context) - max_context :]
    return context, None, 0


def _word_ended_as_typed(generator, healed: bytes, next_text: str) -> int | None:
    """The token that is exactly the ``healed`` bytes, when the healing step would have chosen it before
    ``next_text``: the tokenizer splits ``healed`` + ``next_text`` right after the typed bytes (" the" + " first"),
    rather than inside the token that starts ``next_text`` (" bro" + "wn" is " brown"). None otherwise, or when
    nothing was backed off."""
    if not healed or not next_text:
        return None
    try:
        written = healed.decode("utf-8") + next_text
    except UnicodeDecodeError:  # the backed-off bytes end inside a character: no token ends the word there
        return None
    spelled = b""
    for token in generator.tokenizer.encode(written):
        spelled += generator.token_bytes[token] if 0 <= token < len(generator.token_bytes) else b""
        if len(spelled) >= len(healed):
            break
    if spelled != healed:
        return None
    exact = [token for token in generator.prefix_index.ids_starting_with(healed).tolist()
             if generator.token_bytes[token] == healed]
    return exact[0] if exact else None


def _token_text(generator, token: int, skip: int) -> str | None:
    """What ``token`` adds to the text, or None when it cannot be inserted (special, empty, partial character).

    After healing, "" is a real answer: the token that is exactly the backed-off bytes ends the word as typed."""
    data = generator.token_bytes[token] if token < len(generator.token_bytes) else b""
    if token in generator.special_ids or not data:
        return None
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError:
        return None
