"""Twilio behind three ports: posting User Defined Messages (udm_out), subscribing a call to its
messages (subscriptions), and checking X-Twilio-Signature (signatures).

Split by module so the CallStatus and Messages functions never import twilio's REST client at cold start.
"""
