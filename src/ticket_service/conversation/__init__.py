"""The conversation on a ticket: public replies and internal notes."""
