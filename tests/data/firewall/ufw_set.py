"""Change ufw's settings under a private root with ufw's own code (its backend's
set_default and set_default_policy, which `ufw enable` and `ufw default` call), as ufw's
test suite does with --rootdir/--datadir. Run with the interpreter ufw itself runs with.

    ufw_set.py ROOT enable            ENABLED=yes in ROOT/etc/ufw/ufw.conf
    ufw_set.py ROOT allow|deny|reject DEFAULT_INPUT_POLICY in ROOT/etc/default/ufw
"""

import gettext
import sys

gettext.install("ufw")

import ufw.backend_iptables  # type: ignore[import-not-found]  # noqa: E402

root = sys.argv[1]
backend = ufw.backend_iptables.UFWBackendIptables(dryrun=False, rootdir=root, datadir=root)
for what in sys.argv[2:]:
    if what == "enable":
        backend.set_default(backend.files["conf"], "ENABLED", "yes")
    else:
        backend.set_default_policy(what, "incoming")
