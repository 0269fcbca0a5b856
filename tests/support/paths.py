"""Where the repository is, for tests that run its tools, benchmarks and launcher or read its resources."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_GGUF = REPO.parent / "shared" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_TOKENIZER = REPO / "resources" / "models" / "default" / "tokenizer.json"  # the vocabulary test files carry
