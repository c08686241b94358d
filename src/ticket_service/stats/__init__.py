"""Statistics for team leads: what came in, what was closed, how fast, what is waiting, and
whether people are happy, per service and per agent."""
