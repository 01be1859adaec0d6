"""Adapters: the only code that talks to AWS and Twilio. Each implements a port of bridge.ports and
turns its SDK's failures into domain errors. runtime.py is the only module that imports them."""
