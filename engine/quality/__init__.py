"""Whether a suggestion is worth showing: the quality guards and confidence gate, and the coverage control's
calibrated threshold."""
