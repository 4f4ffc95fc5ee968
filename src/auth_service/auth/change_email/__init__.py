"""POST /change-email: the three flows of an e-mail change (the verify-email link completes
the mailed ones, see auth.verification)."""
