"""`python -m feedbot_rasa <rasa arguments>`: Rasa's command line, patched
(feedbot_rasa.patches); refuses to start when the patches do not fit."""

import sys

from feedbot_rasa.patches import PatchMismatch, apply


def main() -> None:
    try:
        apply()
    except PatchMismatch as exc:
        print(f"feedbot_rasa: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
