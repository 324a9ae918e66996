"""Text handling: validation, normalisation for the phonemizer, and the phrase planner."""
