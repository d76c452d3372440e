"""Understanding what customers write: the score in a reply, the themes and
the sentiment of a reason, and whether a reason is too vague to act on."""
