"""What surrounds a suggestion once it is asked for: the quality gate, the history of suggestions made at a place,
where accepted text came from, and the next-token candidates popup."""
