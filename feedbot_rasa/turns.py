"""A turn Rasa must end unsaved."""


class TurnAbandoned(BaseException):
    """The action server could not be reached or failed, or the tracker store
    could not be read or written: the whole turn is abandoned, unsaved. A
    BaseException, so that Rasa's `except Exception` handlers (the processor,
    the REST channel, the FailSafeTrackerStore that would otherwise go on
    with an empty conversation in memory) let it through; the app sees the
    connection close without an answer and has the words answered later."""


class LockUnavailable(Exception):
    """The conversation's lock could not be taken: the lock store (Redis) did
    not answer, or the lock vanished from it. The turn never began."""


# The custom payload of the one reply to a turn refused before it began (the
# lock store down): the app keeps the words and sends them again later,
# without counting a failed try (bot.rasa_client reads the same key).
TURN_REFUSED = "feedbot.turn_refused"


def one_line(error: BaseException) -> str:
    """What an error says, on one line (a driver's message spans several):
    for a log line, or the reason the app is given."""
    return " ".join(str(getattr(error, "orig", None) or error).split())
