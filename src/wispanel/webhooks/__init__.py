"""Webhooks: subscriptions to panel events, and their signed, retried delivery."""
