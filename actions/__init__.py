"""Custom Rasa actions (rasa_sdk on Python 3.11), split by concern.

Run with ``python -m rasa_sdk --actions actions`` (``feedbot run`` does it).
"""
