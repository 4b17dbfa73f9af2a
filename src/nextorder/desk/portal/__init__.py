"""The desk's public side: the contact form (/contact/) and the customer portal
(/portal/), where a contact logs in by an emailed one-time link."""
