"""A company CA and a server certificate for 127.0.0.1, made by the real openssl command.

The agent trusts the CA the way a company's devices do, through SSL_CERT_FILE."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what SSL_CERT_FILE names
    cert: Path  # the server's certificate, signed by the CA
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(folder: Path) -> Certificates:
    openssl = require_tool("openssl")
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    key, csr, cert = folder / "srv.key", folder / "srv.csr", folder / "srv.pem"
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=Test Company CA")  # fmt: skip
    run("req", *curve, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return Certificates(ca, cert, key)
