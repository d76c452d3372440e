"""Custom Rasa actions (rasa_sdk on Python 3.11), split by concern.

Run with ``python -m rasa_sdk --actions actions`` (``feedbot run`` does it).
"""

import threading

from actions import context
from feedbot.locales import DEFAULT, LANGUAGES

# Load spaCy, the word list and the taxonomy when the action server starts,
# not during the first customer's turn (about two seconds); the other
# languages' readers in the background, while English turns are served.
context.understanding(DEFAULT)
for _language in LANGUAGES:
    if _language != DEFAULT:
        threading.Thread(target=context.understanding, args=(_language,), daemon=True).start()
