"""The store: Feedbot's own schema, the single source of truth for surveys,
responses and transcripts. Analytics reads it; it never parses Rasa's tracker."""
