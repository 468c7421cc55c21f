"""Sellable-quantity formulas: a tiny expression language with a real parser (no ``eval``).

Grammar (precedence climbing; ``*`` and ``/`` bind tighter than ``+`` and ``-``)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | NAME | NAME "(" [expression ("," expression)*] ")" | "(" expression ")"

Names are the variables of :data:`VARIABLES`; functions are ``MIN``, ``MAX`` (two or more
arguments), ``FLOOR``, ``CEIL`` (one) and ``incoming_within(days)`` (one: units expected within
that many days). Names are case-insensitive. A formula that does not parse, or names an unknown
variable or function, or calls one with the wrong number of arguments, raises
:class:`FormulaInvalidError` with the 0-based ``position`` of the problem, when it is saved.

The merchants' example ``MIN(on_hand, incoming * 0.8) - locked`` is one of the tests. Evaluation
is exact (``Decimal``); the sellable quantity is the result floored and never below zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from oms.domain.errors import FormulaInvalidError

#: What a formula may read (the inventory service provides each for a SKU and channel).
VARIABLES = frozenset({"on_hand", "reserved", "available", "incoming", "safety_stock", "locked", "in_flight"})
_FUNCTIONS: Mapping[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "floor": (1, 1),
    "ceil": (1, 1),
    "incoming_within": (1, 1),
}
#: A formula longer than this is refused (it is typed by a person; a bound keeps parsing cheap).
MAX_LENGTH = 500

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>[-+*/(),]))")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise FormulaInvalidError(f"a formula has at most {MAX_LENGTH} characters", position=MAX_LENGTH)
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            start = position + (len(source[position:]) - len(source[position:].lstrip()))
            raise FormulaInvalidError(f"unexpected character {source[start]!r}", position=start)
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


@dataclass(frozen=True, slots=True)
class Number:
    value: Decimal


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Binary:
    operator: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node


Node = Number | Variable | Call | Binary | Negate


class _Parser:
    def __init__(self, source: str, variables: frozenset[str] = VARIABLES) -> None:
        self.tokens = tokenize(source)
        self.index = 0
        self.variables = variables

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        if self.current.text != text:
            found = self.current.text or "the end"
            raise FormulaInvalidError(f"expected {text!r}, found {found!r}", position=self.current.position)
        return self.advance()

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise FormulaInvalidError("the formula is empty", position=0)
        node = self.expression()
        if self.current.kind != "end":
            raise FormulaInvalidError(f"unexpected {self.current.text!r}", position=self.current.position)
        return node

    def expression(self) -> Node:
        node = self.term()
        while self.current.text in ("+", "-"):
            operator = self.advance().text
            node = Binary(operator, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.current.text in ("*", "/"):
            operator = self.advance().text
            node = Binary(operator, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.current.text == "-":
            self.advance()
            return Negate(self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return Number(Decimal(token.text))
        if token.text == "(":
            self.advance()
            node = self.expression()
            self.expect(")")
            return node
        if token.kind == "name":
            self.advance()
            name = token.text.lower()
            if self.current.text == "(":
                return self.call(name, token)
            if name not in self.variables:
                raise FormulaInvalidError(f"unknown variable {token.text!r}", position=token.position)
            return Variable(name)
        found = token.text or "the end"
        raise FormulaInvalidError(
            f"expected a number, a name or '(', found {found!r}", position=token.position
        )

    def call(self, name: str, token: Token) -> Node:
        if name not in _FUNCTIONS:
            raise FormulaInvalidError(f"unknown function {token.text!r}", position=token.position)
        self.expect("(")
        arguments: list[Node] = []
        if self.current.text != ")":
            arguments.append(self.expression())
            while self.current.text == ",":
                self.advance()
                arguments.append(self.expression())
        self.expect(")")
        least, most = _FUNCTIONS[name]
        if len(arguments) < least or (most is not None and len(arguments) > most):
            wanted = f"{least}" if least == most else f"at least {least}"
            raise FormulaInvalidError(
                f"{token.text} takes {wanted} argument(s), got {len(arguments)}", position=token.position
            )
        return Call(name, tuple(arguments))


def parse(source: str, variables: frozenset[str] = VARIABLES) -> Node:
    """The syntax tree of ``source``; raises :class:`FormulaInvalidError` with a position.

    ``variables`` are the names the formula may read (a bundle's formula reads its own, D161).
    """
    return _Parser(source, variables).parse()


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a formula reads for one SKU (and channel)."""

    values: Mapping[str, Decimal | int]
    incoming_within: Callable[[Decimal], Decimal | int]


def evaluate(node: Node, inputs: Inputs) -> Decimal:
    """The exact value of a parsed formula. Division by zero yields 0 (an empty stock, not an error)."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Variable):
        return Decimal(inputs.values.get(node.name, 0))
    if isinstance(node, Negate):
        return -evaluate(node.operand, inputs)
    if isinstance(node, Binary):
        left, right = evaluate(node.left, inputs), evaluate(node.right, inputs)
        if node.operator == "+":
            return left + right
        if node.operator == "-":
            return left - right
        if node.operator == "*":
            return left * right
        try:
            return left / right if right != 0 else Decimal(0)
        except InvalidOperation:
            return Decimal(0)
    values = [evaluate(argument, inputs) for argument in node.arguments]
    if node.function == "min":
        return min(values)
    if node.function == "max":
        return max(values)
    if node.function == "floor":
        return Decimal(math.floor(values[0]))
    if node.function == "ceil":
        return Decimal(math.ceil(values[0]))
    return Decimal(inputs.incoming_within(values[0]))


def sellable(node: Node, inputs: Inputs) -> int:
    """The formula's value as a sellable quantity: whole units, never negative."""
    return max(0, math.floor(evaluate(node, inputs)))


#: The formula a SKU without one of its own uses.
DEFAULT_FORMULA = "on_hand - reserved - safety_stock"


@dataclass(frozen=True, slots=True)
class FormulaVersion:
    """A saved formula: scope (``sku:<id>``, ``category:<id>``, ``channel:<name>``) and version."""

    scope: str
    version: int
    source: str

    @property
    def tree(self) -> Node:
        return parse(self.source)
