"""hygiene-agent: audits your own computer for hygiene lapses and tells you what to do."""

__version__ = "0.1.0"
