"""hygiene-agent: audits your own computer for hygiene lapses and tells you what to do."""

import os

__version__ = "0.1.0"

# pydantic looks for plugins in every installed package's metadata the first time it
# builds a model (importlib.metadata: about 15 ms and 1 MB in every process). The agent
# uses none, so it turns the search off with pydantic's documented switch, here where
# every entry (the `hygiene` script, `python -m agent`, the scanner child) passes first.
# A value the person set is left as it is.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
