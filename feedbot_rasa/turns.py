"""A turn Rasa must end unsaved."""


class TurnAbandoned(BaseException):
    """The action server could not be reached or failed, or the tracker store
    could not be read or written: the whole turn is abandoned, unsaved. A
    BaseException, so that Rasa's `except Exception` handlers (the processor,
    the REST channel, the FailSafeTrackerStore that would otherwise go on
    with an empty conversation in memory) let it through; the app sees the
    connection close without an answer and has the words answered later."""
