"""What an object keeps alive, seen through the object graph rather than its private attributes.

A cache's promises about memory ("a digest, never the token", "forgotten once expired")
are about what stays reachable from the object that owns it: :func:`holds` answers that
for any object, whatever the names of the attributes in between.

Example::

    assert_valid(validator.validate(token))
    assert not holds(validator, token)
    assert holds(validator, hashlib.sha256(token.encode()).digest())
"""

from __future__ import annotations

import gc
import types
from typing import Iterator, List, Set

# Not followed: a function reaches its module's globals, and through them everything;
# classes and modules are shared by every instance, so nothing they hold is the object's.
_NOT_FOLLOWED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
)


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through references (``root`` first), each once."""
    seen: Set[int] = {id(root)}
    stack: List[object] = [root]
    while stack:
        obj = stack.pop()
        yield obj
        referents = gc.get_referents(obj)
        if isinstance(obj, dict):  # a dict whose keys are all strings reports only its values
            referents.extend(dict.keys(obj))
        for referent in referents:
            if id(referent) not in seen and not isinstance(referent, _NOT_FOLLOWED):
                seen.add(id(referent))
                stack.append(referent)


def holds(root: object, value: object) -> bool:
    """Whether an object of ``value``'s exact type and equal to it is reachable from ``root``."""
    kind = type(value)
    return any(type(obj) is kind and obj == value for obj in reachable(root))
