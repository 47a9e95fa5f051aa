"""HTTP plumbing shared by every area: request context, security, bodies."""
