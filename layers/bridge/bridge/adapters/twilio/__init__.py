"""Twilio behind two ports: posting User Defined Messages, and verifying status callbacks.

Split by module so the CallStatus function never imports twilio's REST client at cold start.
"""
