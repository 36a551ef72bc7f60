"""Record classes for the core, without the ``dataclasses`` module.

Importing ``dataclasses`` imports ``inspect`` and with it ``ast``, ``dis`` and ``tokenize``, and each
decorated class compiles its methods at import: together a third of what ``bbwizard credential
get`` costs, and git runs that on every fetch (issue 4's benchmark). So the modules on that road
(``config``, ``git``) write their records by hand: immutable ones as ``collections.namedtuple``
subclasses, mutable ones on :class:`Record`, which gives what the dataclass decorator gave them
(``repr``, ``==`` and ``replace``). Each subclass writes its own ``__init__``, so its signature reads
as plainly as a dataclass's fields.
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
