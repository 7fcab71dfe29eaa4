"""Accounting formulas as data, evaluated safely in exact decimal arithmetic.

A :class:`Formula` is a record — id, version, a text expression such as ``FC * NCV * CC * OF * 44 / 12``,
the unit of every input and of the result — so the methodology can be stored, versioned, shown to an
accountant and audited like any other data. The expression is parsed with :mod:`ast` and accepted only if
it is built from numbers, names, ``+ - * /``, parentheses and unary minus; everything else (calls,
attributes, subscripts, comparisons, power, lambdas, strings ...) is refused with an error naming the
construct. Nothing is ever passed to ``eval``/``exec``: a small tree walker computes the value.

Arithmetic is :class:`decimal.Decimal` throughout. Numbers written in the expression become ``Decimal``
from their source text (``0.0154`` stays exactly 0.0154, never a binary float). Division is carried to
:data:`PRECISION` significant digits — ``44 / 12`` cannot be exact in any base-10 arithmetic — and no
other rounding happens here; rounding is for display only.

Errors::

    AccountingError (InvalidInputError, 400)   base of every accounting error
    └── FormulaError                           the expression is not allowed, or cannot be evaluated
"""

from __future__ import annotations

import ast
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from cem_platform.errors import InvalidInputError

__all__ = [
    "PRECISION",
    "AccountingError",
    "Evaluation",
    "Formula",
    "FormulaError",
    "TraceInput",
    "expression_names",
    "parse_expression",
]

#: Significant digits kept by divisions; far beyond any measured input, so it never shows at 0.0001 t.
PRECISION = 50

_BINARY_OPERATORS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

# Friendly names for what users most often try, so the error says what was refused in their terms.
_REFUSED_NAMES: dict[type[ast.AST], str] = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.Lambda: "lambda",
    ast.Pow: "power ('**')",
    ast.FloorDiv: "floor division ('//')",
    ast.Mod: "modulo ('%')",
    ast.MatMult: "matrix multiplication ('@')",
    ast.Invert: "bitwise not ('~')",
    ast.Not: "'not'",
    ast.NamedExpr: "assignment expressions (':=')",
}


class AccountingError(InvalidInputError):
    """Base of every accounting error: the methodology data or the activity data is wrong."""

    code = "accounting_error"
    default_hint = "Correct the named formula, parameter or activity data and compute again."


class FormulaError(AccountingError):
    """A formula's expression is not allowed, or its inputs do not let it be evaluated."""

    code = "formula_error"
    default_hint = "Use only numbers, input names, + - * /, parentheses and unary minus; give every input."


def parse_expression(text: str) -> ast.Expression:
    """Parse ``text`` into an expression tree, refusing every construct but numbers, names, + - * / ( ) and -x."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise FormulaError(f"Formula expression {text!r} is not valid: {err.msg}.") from err
    for node in ast.walk(tree):
        _check_node(node, text)
    return tree


def expression_names(tree: ast.Expression) -> frozenset[str]:
    """The input names an already parsed expression refers to."""
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def _check_node(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Expression | ast.Load | ast.Name | ast.Add | ast.Sub | ast.Mult | ast.Div | ast.USub):
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPERATORS:
            _refuse(node.op, text)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub):
            _refuse(node.op, text)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(
                f"Formula expression {text!r}: only numbers are allowed as constants, not {node.value!r}."
            )
        _literal(node, text)
        return
    _refuse(node, text)


def _refuse(node: ast.AST, text: str) -> None:
    what = _REFUSED_NAMES.get(type(node), type(node).__name__)
    raise FormulaError(
        f"Formula expression {text!r}: {what} not allowed; "
        "only numbers, input names, + - * /, parentheses and unary minus are."
    )


@dataclass(frozen=True, slots=True)
class TraceInput:
    """One input that went into an evaluation: its name, exact value and unit."""

    name: str
    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The exact result of evaluating a formula, and what went into it."""

    formula_id: str
    formula_version: str
    expression: str
    value: Decimal
    unit: str
    inputs: tuple[TraceInput, ...]


@dataclass(frozen=True)
class Formula:
    """A versioned formula: expression text over named inputs, each input's unit, and the result's unit.

    The expression is validated when the formula is created, and its names must be exactly the declared
    inputs — an undeclared name or a declared input the expression never uses is a methodology error.
    """

    id: str
    version: str
    expression: str
    input_units: Mapping[str, str]
    result_unit: str
    description: str = ""
    _tree: ast.Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tree = parse_expression(self.expression)
        names = expression_names(tree)
        undeclared = sorted(names - set(self.input_units))
        unused = sorted(set(self.input_units) - names)
        if undeclared:
            raise FormulaError(
                f"Formula {self.id} v{self.version}: {', '.join(undeclared)} used in {self.expression!r} "
                "but not declared as inputs with a unit."
            )
        if unused:
            raise FormulaError(
                f"Formula {self.id} v{self.version}: declared inputs {', '.join(unused)} are not used in "
                f"{self.expression!r}."
            )
        object.__setattr__(self, "_tree", tree)

    @property
    def inputs(self) -> frozenset[str]:
        """Names of the inputs the expression uses."""
        return frozenset(self.input_units)

    def evaluate(self, values: Mapping[str, Decimal]) -> Evaluation:
        """Compute the formula from exact ``values`` (already in the declared units); return value and trace."""
        missing = sorted(self.inputs - set(values))
        unknown = sorted(set(values) - self.inputs)
        if missing:
            raise FormulaError(f"Formula {self.id} v{self.version} needs {', '.join(missing)}; not given.")
        if unknown:
            raise FormulaError(
                f"Formula {self.id} v{self.version} has no input named {', '.join(unknown)}; "
                f"its inputs are {', '.join(sorted(self.inputs))}."
            )
        for name, value in values.items():
            if not isinstance(value, Decimal) or not value.is_finite():
                raise FormulaError(f"Formula {self.id}: input {name} must be a finite Decimal, got {value!r}.")
        with decimal.localcontext() as context:
            context.prec = PRECISION
            context.traps[decimal.DivisionByZero] = True
            context.traps[decimal.InvalidOperation] = True
            try:
                result = self._walk(self._tree.body, values)
            except (decimal.DivisionByZero, decimal.InvalidOperation) as err:
                raise FormulaError(
                    f"Formula {self.id} v{self.version} cannot be evaluated ({self.expression!r}): division by zero "
                    "or an undefined operation with the given inputs."
                ) from err
        trace = tuple(TraceInput(name, values[name], self.input_units[name]) for name in sorted(self.inputs))
        return Evaluation(self.id, self.version, self.expression, result, self.result_unit, trace)

    def _walk(self, node: ast.expr, values: Mapping[str, Decimal]) -> Decimal:
        # Only the node kinds parse_expression let through can appear here.
        if isinstance(node, ast.BinOp):
            left, right = self._walk(node.left, values), self._walk(node.right, values)
            operator = _BINARY_OPERATORS[type(node.op)]
            if operator == "+":
                return left + right
            if operator == "-":
                return left - right
            if operator == "*":
                return left * right
            return left / right
        if isinstance(node, ast.UnaryOp):
            return -self._walk(node.operand, values)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.Constant):
            return _literal(node, self.expression)
        raise FormulaError(f"Formula {self.id}: unexpected {type(node).__name__} in {self.expression!r}.")


def _literal(node: ast.Constant, text: str) -> Decimal:
    """The number as written in the expression text, never via float."""
    source = ast.get_source_segment(text.strip(), node)
    try:
        return Decimal(source if source is not None else str(node.value))
    except decimal.InvalidOperation as err:
        raise FormulaError(f"Formula expression {text!r}: number {source!r} must be written in decimal.") from err
