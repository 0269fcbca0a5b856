"""Documents on disk: reading and writing text files, crash recovery, the sidecar file of notes, the last folder."""
