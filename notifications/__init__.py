"""Reaching the patient: the outbox's dispatcher, its channels (SMTP e-mail, an HTTP SMS/WhatsApp
provider), the message texts and calendar invites, and the unsubscribe links (docs/architecture.md)."""
