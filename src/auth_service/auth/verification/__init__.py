"""E-mail verification (send-verification-email, verify-email), its stateless tokens, and the
`verification` table shared by the single-use tokens of the other account flows."""
