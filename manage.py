#!/usr/bin/env python
"""Django's command-line utility; configuration errors end in one readable line, exit code 2."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceplatform.settings")
    from django.core.management import execute_from_command_line

    from voiceplatform.config import ConfigError

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
