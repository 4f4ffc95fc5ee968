"""`auth-service db studio`: a local, token-protected admin console over the service's tables
(sqladmin), the equivalent of the seed's `drizzle-kit studio`. Secret columns are never mapped,
so they are never read from the database, let alone shown, exported, searched or sorted."""
