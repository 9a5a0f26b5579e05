import sys

from .cli import EXIT_INTERRUPTED, main

try:
    sys.exit(main())
except KeyboardInterrupt:  # an interrupt that arrives after main's own handler (exit code as for Ctrl-C)
    sys.exit(EXIT_INTERRUPTED)
