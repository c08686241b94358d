"""Who works a ticket: service teams, claim and assign, automatic assignment, followers."""
