"""Password reset by e-mail: request-password-reset (and /forget-password), the
reset-password link and POST /reset-password."""
