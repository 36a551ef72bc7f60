"""A mutable record class without the ``dataclasses`` module: ``repr``, ``==`` and ``replace``.

The core no longer needs it: ``bbwizard token`` and ``credential get`` read a fresh token through
:mod:`bbwizard.freshtoken` without importing :mod:`bbwizard.config`, so ``config.Profile`` and
``git.CloneResult`` are dataclasses. What still subclasses :class:`Record` (some of the wizard's
records) gains nothing from it either: Textual imports ``dataclasses`` anyway.
"""

from __future__ import annotations


class Record:
    """A mutable record: ``_fields`` names the fields in order, ``_hidden`` those left out of repr."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _hidden: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    __hash__ = None  # type: ignore[assignment] - mutable, so unhashable (as a dataclass)

    def replace(self, **changes: object):  # noqa: ANN201 - the same type
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)
