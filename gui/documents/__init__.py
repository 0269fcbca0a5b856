"""Documents on disk: reading and writing text files, crash recovery, the notes on where suggested text came from."""
