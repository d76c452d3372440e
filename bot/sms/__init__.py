"""The SMS channel: Twilio webhooks in, Twilio's Messages API out."""
