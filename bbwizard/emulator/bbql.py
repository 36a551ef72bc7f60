"""The subset of Bitbucket's query language (``q=``), ``sort=`` and partial responses (``fields=``).

``q``: comparisons ``FIELD OP VALUE`` with ``=``, ``!=``, ``~`` (contains, case-insensitive),
``!~``, ``>``, ``>=``, ``<``, ``<=``; values are "strings" (double quotes, backslash escapes),
numbers, ``true``/``false``/``null``; combined with ``AND``/``OR`` (any case) and parentheses.
Fields are dotted paths into the object's JSON (``name``, ``project.key``, ``mainbranch.name``).

``fields``: comma separated dotted paths; ``*`` matches every key at its level; ``-path`` removes;
``+path`` adds to the default (a no-op here: the default is everything). Lists are transparent:
``values.name`` applies to every element of ``values``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any


class QueryError(ValueError):
    """The ``q`` parameter does not parse."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|>=|<=|!~|=|~|>|<)
      | (?P<paren>[()])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

Getter = Callable[[str], Any]


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"unexpected character at position {pos}")
        pos = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
            tokens.append(("value", value))
        elif kind == "number":
            tokens.append(("value", float(raw) if "." in raw else int(raw)))
        elif kind == "word":
            lowered = raw.lower()
            if lowered in ("and", "or"):
                tokens.append((lowered, raw))
            elif lowered in ("true", "false"):
                tokens.append(("value", lowered == "true"))
            elif lowered in ("null", "none"):
                tokens.append(("value", None))
            else:
                tokens.append(("field", raw))
        else:
            tokens.append((kind, raw))
    return tokens


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op in ("~", "!~"):
        found = expected is not None and actual is not None and str(expected).lower() in str(actual).lower()
        return found if op == "~" else not found
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    try:
        if op == ">":
            return actual > expected
        if op == ">=":
            return actual >= expected
        if op == "<":
            return actual < expected
        return actual <= expected
    except TypeError:
        return False


def compile_query(text: str) -> Callable[[Getter], bool]:
    """A predicate over an object, given a getter of dotted field paths. Raises QueryError."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str) -> Any:
        nonlocal pos
        token = peek()
        if token is None or token[0] != kind:
            found = "the end" if token is None else repr(token[1])
            raise QueryError(f"expected {kind}, found {found}")
        pos += 1
        return token[1]

    def primary():
        token = peek()
        if token is not None and token[0] == "paren" and token[1] == "(":
            take("paren")
            inner = disjunction()
            if take("paren") != ")":
                raise QueryError("unbalanced parentheses")
            return inner
        name = take("field")
        op = take("op")
        value = take("value")
        return lambda get: _compare(get(name), op, value)

    def conjunction():
        parts = [primary()]
        while (token := peek()) is not None and token[0] == "and":
            take("and")
            parts.append(primary())
        return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))

    def disjunction():
        parts = [conjunction()]
        while (token := peek()) is not None and token[0] == "or":
            take("or")
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))

    if not tokens:
        raise QueryError("empty query")
    predicate = disjunction()
    if pos != len(tokens):
        raise QueryError(f"unexpected {tokens[pos][1]!r}")
    return predicate


def dotted(document: Any, path: str) -> Any:
    """``document['a']['b']`` for ``a.b``; None where a step is missing."""
    node = document
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _tree(paths: list[str]) -> dict:
    tree: dict = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = True
            else:
                child = node.get(part)
                if child is True:
                    break
                node = node.setdefault(part, {})
    return tree


def _project(node: Any, tree: dict | bool) -> Any:
    if tree is True:
        return node
    if isinstance(node, list):
        return [_project(item, tree) for item in node]
    if not isinstance(node, dict):
        return node
    everything = tree.get("*") is True
    out = {}
    for key, value in node.items():
        sub = True if everything else tree.get(key, tree.get("*"))
        if sub is not None:
            out[key] = _project(value, sub)
    return out


def _remove(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _remove(item, parts)
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else [head]
    for key in keys:
        if key not in node:
            continue
        if rest:
            _remove(node[key], rest)
        else:
            del node[key]


def fields_tree(includes: list[str]) -> dict:
    """The tree of included paths ``apply_fields`` projects with (``{"values": {"slug": True}}``)."""
    return _tree(includes)


def project(node: Any, tree: dict | bool) -> Any:
    """``node`` with only the paths of ``tree`` (what ``apply_fields`` does for includes)."""
    return _project(node, tree)


def apply_fields(document: dict, spec: str) -> dict:
    """The partial response that ``fields=spec`` asks for."""
    entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
    includes = [e for e in entries if e[0] not in "+-"]
    excludes = [e[1:] for e in entries if e[0] == "-"]
    result = _project(document, _tree(includes)) if includes else document
    if excludes:
        result = copy.deepcopy(result)
        for path in excludes:
            _remove(result, path.split("."))
    return result
