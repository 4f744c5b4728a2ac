"""A local certificate authority and a certificate for 127.0.0.1, to serve S3 over https in tests and benchmarks."""

from __future__ import annotations

from pathlib import Path


def make_local_tls(folder: str | Path) -> tuple[Path, Path, Path]:
    """(certificate, private key, CA bundle) for ``127.0.0.1`` and ``localhost``, written into ``folder``."""
    import trustme

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    return cert, key, bundle
