"""Loading models: checkpoint folders, model families, tokenizers, where models live (bundled, user, Hugging Face
cache) and which device runs them. ``engine.load`` (``engine/language_model.py``) puts these together."""
