"""Transitional: the old name of ``support.fault_server`` (and of the certificate builders, now ``support.certs``).

Branches written before ``tests/support`` import from here. Nothing is defined here:
delete this module once no test imports it.
"""

from support.certs import CertFiles, issue_cert, make_ca, self_signed_cert
from support.fault_server import *  # noqa: F403
from support.fault_server import __all__ as _server_names

__all__ = [*_server_names, "CertFiles", "issue_cert", "make_ca", "self_signed_cert"]
