"""Turning a model's next-token distributions into continuations: settings, strategies, streaming."""
