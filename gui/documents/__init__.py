"""Documents on disk: reading and writing text files, crash recovery, the sidecar file of notes."""
