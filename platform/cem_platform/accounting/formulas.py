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
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NODES",
    "TraceInput",
    "check_formula",
    "expression_names",
    "parse_expression",
]

#: Significant digits kept by divisions; far beyond any measured input, so it never shows at 0.0001 t.
PRECISION = 50
#: Bounds of an expression entered online (the seeded ones are far below): characters, and parsed tree nodes.
MAX_EXPRESSION_LENGTH = 400
MAX_EXPRESSION_NODES = 200

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


def check_formula(formula: Formula) -> None:
    """Checks of a formula entered online, beyond what creating it checks (allowed constructs, exactly the declared
    inputs): its length and size are bounded, no divisor without inputs is zero, and — where the units tell — it
    adds only like to like and its result has the dimension of the declared result unit. Units are compared by
    dimension (``GJ`` and ``MWh`` are both energy); carbon and CO2 count as one, the 44/12 being the formula's own.
    A unit the unit table does not know leaves the unit check out."""
    text = formula.expression
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FormulaError(
            f"Formula {formula.id}: the expression has {len(text)} characters; at most {MAX_EXPRESSION_LENGTH}."
        )
    tree = formula._tree
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_EXPRESSION_NODES:
        raise FormulaError(
            f"Formula {formula.id}: the expression is too large ({nodes} parts; at most {MAX_EXPRESSION_NODES})."
        )
    dimensions: dict[str, dict[str, int] | None] = {
        name: _dimension(unit) for name, unit in formula.input_units.items()
    }
    result = _dimension(formula.result_unit)
    found = _dimension_of(tree.body, dimensions, formula)
    if result is not None and found is not None and found[0] is not None and not found[1] and found[0] != result:
        raise FormulaError(
            f"Formula {formula.id}: {text!r} gives {_dimension_text(found[0])}, but its result is in "
            f"{formula.result_unit} ({_dimension_text(result)}).",
            hint="Check the inputs each term multiplies and divides; the inputs' units are fixed by the method.",
        )


def _dimension(unit: str) -> dict[str, int] | None:
    """The dimensions of a unit with their exponents ({} for a pure number), None when the unit table does not know
    it."""
    from cem_platform.accounting import units

    if unit.strip() in ("1", "%", ""):
        return {}
    try:
        text = units.dimension(unit)
    except units.UnitError:
        return None
    out: dict[str, int] = {}
    for sign, part in zip((1, -1), text.split("/", 1), strict=False):
        name = "emission" if part == "carbon" else part
        out[name] = out.get(name, 0) + sign
    return {k: v for k, v in out.items() if v}


def _dimension_text(dimensions: Mapping[str, int]) -> str:
    if not dimensions:
        return "a pure number"
    return " × ".join(f"{name}^{exp}" if exp != 1 else name for name, exp in sorted(dimensions.items()))


def _combine(left: Mapping[str, int], right: Mapping[str, int], sign: int) -> dict[str, int]:
    out = dict(left)
    for name, exp in right.items():
        out[name] = out.get(name, 0) + sign * exp
    return {k: v for k, v in out.items() if v}


def _dimension_of(
    node: ast.expr, dimensions: Mapping[str, dict[str, int] | None], formula: Formula
) -> tuple[dict[str, int] | None, bool] | None:
    """(dimensions or None if unknown, whether the subtree is made of numbers only)."""
    if isinstance(node, ast.Constant):
        return {}, True
    if isinstance(node, ast.Name):
        return dimensions.get(node.id), False
    if isinstance(node, ast.UnaryOp):
        return _dimension_of(node.operand, dimensions, formula)
    if not isinstance(node, ast.BinOp):
        return None
    left = _dimension_of(node.left, dimensions, formula)
    right = _dimension_of(node.right, dimensions, formula)
    if left is None or right is None:
        return None
    operator = _BINARY_OPERATORS[type(node.op)]
    if operator == "/" and right[1] and _constant(node.right, formula) == 0:
        raise FormulaError(
            f"Formula {formula.id}: {formula.expression!r} divides by zero "
            f"({ast.get_source_segment(formula.expression.strip(), node.right)})."
        )
    constant = left[1] and right[1]
    if left[0] is None or right[0] is None:
        return None, constant
    if operator in "*/":
        return _combine(left[0], right[0], 1 if operator == "*" else -1), constant
    if left[1]:  # a number added to a quantity takes its unit (like 83.74 kJ/kg)
        return right[0], constant
    if right[1] or left[0] == right[0]:
        return left[0], constant
    raise FormulaError(
        f"Formula {formula.id}: {formula.expression!r} {'adds' if operator == '+' else 'subtracts'} "
        f"{_dimension_text(right[0])} {'to' if operator == '+' else 'from'} {_dimension_text(left[0])}.",
        hint="Only quantities of the same dimension can be added or subtracted.",
    )


def _constant(node: ast.expr, formula: Formula) -> Decimal:
    """The value of a subtree made of numbers only."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        context.traps[decimal.DivisionByZero] = True
        context.traps[decimal.InvalidOperation] = True
        try:
            return formula._walk(node, {})
        except (decimal.DivisionByZero, decimal.InvalidOperation) as err:
            raise FormulaError(f"Formula {formula.id}: {formula.expression!r} divides by zero.") from err
