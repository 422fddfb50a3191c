"""What the test modules share, each helper defined once (this package holds no tests).

* :mod:`support.encoding`: base64url and JSON bytes for hand-made tokens and key sets;
* :mod:`support.tokens`: forged and hand-signed tokens, public JWKs, one bad token per failure;
* :mod:`support.certs`: throwaway CAs and certificates (TLS servers, ``x5c``);
* :mod:`support.clock`: a settable clock and a bounded wait;
* :mod:`support.validators`: validators pointed at a loopback issuer or at a domain never contacted;
* :mod:`support.fault_server`: a misbehaving HTTP(S) server for the JWKS fault tests;
* :mod:`support.drive`: run a request through a middleware with hand-built environs and scopes;
* :mod:`support.refusals`: strict checks of a refusal's shape (challenge, body, no leaks);
* :mod:`support.adapters`: one neutral request driver per adapter, for the contract suite;
* :mod:`support.paths`: path spellings that try to slip past a protected prefix;
* :mod:`support.net`: a free loopback port.
* :mod:`support.memory`: what an object keeps alive (a cache's memory, without its private names).

The ``issuer`` fixture and its factory live in ``tests/conftest.py``.
"""
