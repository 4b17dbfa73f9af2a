"""Inbound email: turning raw RFC 5322 bytes into what the desk stores."""
