"""Custom Rasa actions (rasa_sdk on Python 3.11), split by concern.

Served by ``python -m commands.action_server`` (rasa_sdk's app in one process;
``feedbot run`` and ``feedbot actions`` start it).
"""

import threading

from actions import context
from feedbot.locales import DEFAULT
from feedbot.settings import Settings

# Load spaCy, the word list and the taxonomy when the action server starts,
# not during the first customer's turn (about two seconds); the readers of
# the other languages this deployment speaks (RASA_URL_ES set) in the
# background, while English turns are served. A language not named there
# is read once a reply in it comes.
context.understanding(DEFAULT)
for _language in Settings.from_env().languages:
    if _language != DEFAULT:
        threading.Thread(target=context.understanding, args=(_language,), daemon=True).start()
