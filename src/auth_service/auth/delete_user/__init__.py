"""Account deletion: POST /delete-user and the mailed GET /delete-user/callback."""
