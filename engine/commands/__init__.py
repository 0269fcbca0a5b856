"""Headless subcommands of the `inkling` command line."""
