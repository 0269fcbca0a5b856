"""The app's long jobs that run on the engine worker's thread with the loaded model: learning from the user's
writing (``fine_tune``) and evaluating on their text (``document_eval``, its runs kept by ``eval_history``)."""
