"""``Origin``: what produced a suggestion (model, decoding settings, seed, a branch's chosen start).

It travels with the suggestion on screen, into its history, onto the text once accepted, and into the notes
kept for the document.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.decoding.settings import DecodingSettings


@dataclass(frozen=True)
class Origin:
    model: str
    settings: DecodingSettings  # as sent to the engine; a sampled one gets its seed once it is known
    lead: str = ""  # the start the user picked before the rest was generated (a branch), "" otherwise

    @property
    def seed(self) -> int | None:
        return self.settings.seed if self.settings.strategy == "sample" else None

    def with_seed_of(self, completions) -> Origin:
        """The same origin with the seed the engine drew, when the settings left it to chance."""
        seed = next((c.seed for c in completions if c.seed is not None), None)
        if self.settings.strategy != "sample" or self.settings.seed is not None or seed is None:
            return self
        return Origin(self.model, self.settings.replace(seed=seed), self.lead)

    def to_dict(self) -> dict:
        return {"model": self.model, "settings": self.settings.to_dict(), "seed": self.seed, "lead": self.lead}

    @classmethod
    def from_dict(cls, data: dict) -> Origin:
        return cls(str(data.get("model", "")), DecodingSettings.from_dict(dict(data.get("settings") or {})),
                   str(data.get("lead", "")))

    def describe(self) -> str:
        """One line for a tooltip or the status bar."""
        s = self.settings
        if s.strategy == "sample":
            how = f"sampling, seed {s.seed}, temperature {s.temperature:g}"
            if s.top_p < 1:
                how += f", top-p {s.top_p:g}"
            if s.top_k:
                how += f", top-k {s.top_k}"
        elif s.strategy == "beam":
            how = f"beam search, {s.num_beams} beams"
        else:
            how = "greedy"
        return f"{self.model or 'unknown model'} · {how}"
