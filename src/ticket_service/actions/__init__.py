"""The action log: every API action gets a guid_action and a JSON record in Redis."""
