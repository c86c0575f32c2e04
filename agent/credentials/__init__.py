"""Passwords and tokens people keep in config files: where they are, how to read each format,
and how strong a human-chosen password is.

Two halves that never share a secret. The check (agent/checks/credentials.py) runs in the
long-lived agent and only locates files and compares their stat signatures with the scan
cache. The files that changed are read by a short-lived child, `python -m
agent.credentials`, which parses them, grades what it finds and answers with facts that
hold no secret and nothing computed from one: where, which field, what kind, which rules
it breaks.
"""

# The environment variable that gives the scanning child its parent's process id: on Linux
# it dies with that parent, and a child whose parent is already gone does not start reading.
PARENT_ENV = "HYGIENE_SCANNER_PARENT"

# Bump when a parser or the grading changes what a file yields: cached results are redone.
SCANNER_VERSION = "5"

# The family that reads config files of no known format, guessed from their names: a file it
# cannot read is not one, so it leaves no note (agent/credentials/scan.py).
GUESSED = "guessed"
# The names the guessed format reads, under $XDG_CONFIG_HOME (agent/credentials/locate.py) and
# as project files under the project roots; a file a known format reads is read by that one.
GUESSED_NAMES = (
    *("*.ini", "*.cfg", "*.conf", "*.cnf", "*.toml", "*.yaml", "*.yml", "*.json"),
    *("*.properties", "settings.py", "*_settings.py", "settings_*.py", "config.py"),
    *("*_config.py", "secrets.py", "credentials.py", "config.js", "config.ts", "settings.js"),
    *("secrets.js", "*.config.js", "*.config.cjs", "*.config.mjs", "*.config.ts"),
    *("knexfile.js", "knexfile.ts"),
)

# The ids of agent.credentials.families.FAMILIES, for the policy's extra_files: the agent
# validates policies without importing the parsers (tests/test_credential_formats.py keeps
# the two lists equal).
FORMATS = (
    "apt_auth", "aws", "composer", "docker", "dotenv", "fetchmail", "filezilla", "gh",
    "git_credentials", "guessed", "kube", "maven", "my_cnf", "mutt", "netrc", "networkmanager",
    "npmrc", "pgpass", "pidgin", "pypirc", "rclone", "remmina", "s3cfg", "unattend",
    "wpa_supplicant",
)  # fmt: skip
