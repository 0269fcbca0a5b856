"""Long jobs seen from a dialog: on the engine thread (``JobRunner``) or on a thread of their own (``ThreadJobRunner``)."""
