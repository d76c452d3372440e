"""Feedbot's additions to Rasa 3.6, run inside Rasa's own environment
(.venv-rasa, Python 3.10): `python -m feedbot_rasa run ...` applies the
patches in `patches.py`, then hands over to Rasa's own command line."""
