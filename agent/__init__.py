"""hygiene-agent: audits your own computer for hygiene lapses and tells you what to do."""

import os

__version__ = "0.1.0"

# pydantic looks for plugins (the "pydantic" entry point group of every installed
# distribution) the first time it builds a validator, and imports each one it finds: a
# monitoring SDK installed beside hygiene-agent would be loaded into the resident agent and
# every command. Its documented switch, read when that first validator is built; set here
# because every entry point (`hygiene`, `python -m agent`, the scanner child) passes through
# this package first. A value the person set is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
