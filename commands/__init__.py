"""The composition root: the `feedbot` command and the process runner. They
import everything else; nothing imports them."""
