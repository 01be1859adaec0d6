"""Webhook to Twilio User Defined Message bridge: the domain package shipped in the Lambda layer."""
