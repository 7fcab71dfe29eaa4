"""Identity and access: users, roles, scopes, sessions, TOTP, step-up and API tokens."""
