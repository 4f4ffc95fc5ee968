"""E-mail delivery: the message templates, the transports (log, SMTP) and the mailer that sends
in the background with a bounded time."""
