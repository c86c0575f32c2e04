"""Facts about this machine. Probes gather; checks judge.

Platform-specific probes live in _linux, _macos and _windows, which define the same
names; this package picks one (the way psutil does). Probes that read only files the
same way everywhere live in their own modules.
"""
