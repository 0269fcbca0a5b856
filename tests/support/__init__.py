"""Helpers the tests share: tiny models, sample text, fakes. Fixtures are in the conftest.py files."""
