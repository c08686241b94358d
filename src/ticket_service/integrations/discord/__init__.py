"""Discord as a front door: HTTP interactions (no gateway), slash commands, a message
context-menu command, ticket cards with buttons, through one rate-limited bot client."""
