"""`Idempotency-Key` on the POSTs that create something: a retried request answers the
first response again instead of doing the work twice (README "Idempotency-Key")."""
