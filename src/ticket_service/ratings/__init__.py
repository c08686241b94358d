"""Satisfaction: the author's rating of a closed ticket (1–5 and an optional comment)."""
