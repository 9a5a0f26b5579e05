try:
    from .cli.main import run
except KeyboardInterrupt:  # Ctrl-C while Python imports the command line: nothing was touched
    raise SystemExit(130) from None

run()
