"""Custom Rasa actions (rasa_sdk on Python 3.11), split by concern.

Run with ``python -m rasa_sdk --actions actions`` (``feedbot run`` does it).
"""

from actions import context

# Load spaCy, the word list and the taxonomy when the action server starts,
# not during the first customer's turn (about two seconds).
context.understanding()
