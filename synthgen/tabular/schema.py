"""The table schema: public metadata about a source table.

A schema lists, per column, its kind (continuous, integer, categorical, boolean), bounds
for numerics, the category list for categoricals, whether nulls occur, and its role (a
feature, the label the model conditions on, or an identifier/entity column that is
dropped and never synthesized). Whatever the schema declares is treated as public: it is
used without spending privacy budget. Whatever it leaves out (bounds, categories, the
class list) is estimated from the data with a DP mechanism when a model is trained.

A schema drafted from the data (``draft_schema``) carries ``draft: true``; training refuses
it until a steward has reviewed it, because values read from the records are not public.

A schema file may come from someone the process should not trust (the service reads the
ones stewards upload), so ``Schema.load`` parses it in bounded time and memory: a size cap,
a nesting-depth and node-count cap, YAML without aliases (an alias bomb expands a few
hundred bytes into gigabytes), and declared ranges checked arithmetically, never expanded.
Every refusal is a ``SchemaError`` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from synthgen.errors import InputFileError, SchemaError
from synthgen.tabular.category_keys import Category, category_key
from synthgen.tabular.constraint_parsing import parse_constraints
from synthgen.tabular.constraints import Constraint, check_constraints

ColumnKind = Literal["continuous", "integer", "categorical", "boolean"]
ColumnRole = Literal["feature", "label", "identifier", "entity"]
KINDS: tuple[str, ...] = ("continuous", "integer", "categorical", "boolean")
ROLES: tuple[str, ...] = ("feature", "label", "identifier", "entity")
DEFAULT_NA_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
MAX_CLASSES = 100
# parsing limits (a schema of 1,000 columns with a few categories each is ~100 KB and
# ~15,000 YAML nodes of depth 5)
MAX_SCHEMA_BYTES = 2**20
MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_NODES = 100_000


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ColumnKind = "categorical"
    role: ColumnRole = "feature"
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[Category, ...] | None = None
    nullable: bool = False
    sensitive: bool = False  # attribute-inference risk is measured on these columns
    description: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("continuous", "integer")

    @property
    def is_synthesized(self) -> bool:
        return self.role in ("feature", "label")

    @property
    def has_bounds(self) -> bool:
        return self.minimum is not None and self.maximum is not None

    def declared_category_count(self) -> int | float | None:
        """How many categories are declared, counted without listing them (an integer label
        declared as ``{min: 0, max: 1e308}`` must not be expanded to find out)."""
        if self.kind == "boolean":
            return 2
        if self.categories is not None:
            return len(self.categories)
        if self.kind == "integer" and self.role == "label" and self.has_bounds:
            assert self.minimum is not None and self.maximum is not None
            return self.maximum - self.minimum + 1
        return None

    def declared_categories(self) -> tuple[Category, ...] | None:
        """Categories known without looking at the data (booleans are always known)."""
        if self.kind == "boolean":
            return (False, True)
        if self.categories is not None:
            return self.categories
        if self.kind == "integer" and self.role == "label" and self.has_bounds:
            assert self.minimum is not None and self.maximum is not None
            if self.maximum - self.minimum + 1 > MAX_CLASSES:
                raise SchemaError(
                    f"column {self.name!r}: a label with more than {MAX_CLASSES} classes "
                    "is not supported"
                )
            return tuple(range(int(self.minimum), int(self.maximum) + 1))
        return None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.role in ("identifier", "entity"):
            d["role"] = self.role
            return d
        d["kind"] = self.kind
        if self.role != "feature":
            d["role"] = self.role
        if self.minimum is not None:
            d["min"] = _plain_number(self.minimum)
        if self.maximum is not None:
            d["max"] = _plain_number(self.maximum)
        if self.categories is not None:
            d["categories"] = list(self.categories)
        d["nullable"] = self.nullable
        if self.sensitive:
            d["sensitive"] = True
        if self.description:
            d["description"] = self.description
        return d


def _plain_number(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


@dataclass(frozen=True)
class Schema:
    columns: tuple[ColumnSpec, ...]
    name: str = ""
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    draft: bool = False
    notes: tuple[str, ...] = field(default=())
    # the number of records of the source, or an upper bound, that the steward declares
    # public: training then chooses batch size, sample rate, delta and bins from it and
    # spends nothing on a DP count (synthgen.privacy.record_count)
    public_record_count: int | None = None
    # values drawn from the records by a draft that a steward accepted as public: each entry
    # {"values": ["age.min", ...], "by": WHO, "at": WHEN}; the certificate lists them under
    # `assumptions` (they were read without noise, and are public only by that acceptance)
    public_from_data: tuple[dict[str, Any], ...] = field(default=())
    # cross-column rules every row keeps (synthgen.tabular.constraints), public like the rest
    constraints: tuple[Constraint, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError(f"schema lists column(s) more than once: {', '.join(dupes)}")
        labels = [c.name for c in self.columns if c.role == "label"]
        if len(labels) > 1:
            raise SchemaError(f"schema has more than one label column: {', '.join(labels)}")
        for c in self.columns:
            _check_column(c)
        if self.constraints:
            check_constraints(self.constraints, self.columns)

    # -- views -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def target(self) -> ColumnSpec | None:
        return next((c for c in self.columns if c.role == "label"), None)

    @property
    def synthesized(self) -> list[ColumnSpec]:
        """Columns a model learns and a sampler writes, in schema order."""
        return [c for c in self.columns if c.is_synthesized]

    @property
    def features(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.role == "feature"]

    @property
    def dropped(self) -> list[ColumnSpec]:
        return [c for c in self.columns if not c.is_synthesized]

    @property
    def entity(self) -> ColumnSpec | None:
        return next((c for c in self.columns if c.role == "entity"), None)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(f"column {name!r} is not in the schema")

    def with_entity(self, name: str) -> Schema:
        """The same schema with ``name`` as the entity column (the patient id; never
        synthesised) and no other."""
        if name not in self.names:
            raise SchemaError(
                f"entity column {name!r} is not in the schema (columns: {', '.join(self.names)})"
            )
        cols = []
        for c in self.columns:
            if c.name == name:
                if c.role == "label":
                    raise SchemaError(f"entity column {name!r} is the label")
                cols.append(replace(c, role="entity"))
            elif c.role == "entity":
                cols.append(replace(c, role="identifier"))
            else:
                cols.append(c)
        return replace(self, columns=tuple(cols))

    def with_target(self, name: str) -> Schema:
        """The same schema with ``name`` as the label column (and no other label)."""
        if name not in self.names:
            raise SchemaError(
                f"target column {name!r} is not in the schema (columns: {', '.join(self.names)})"
            )
        cols = []
        for c in self.columns:
            if c.name == name:
                if c.role in ("identifier", "entity"):
                    raise SchemaError(f"target column {name!r} is declared as {c.role}")
                cols.append(replace(c, role="label", nullable=False))
            elif c.role == "label":
                cols.append(replace(c, role="feature"))
            else:
                cols.append(c)
        return replace(self, columns=tuple(cols))

    def undeclared(self) -> list[str]:
        """What a model would have to estimate from the data, as readable phrases."""
        missing = []
        for c in self.synthesized:
            if c.role == "label":
                if c.declared_categories() is None:
                    missing.append(f"classes of {c.name}")
            elif c.is_numeric and not c.has_bounds:
                missing.append(f"bounds of {c.name}")
            elif not c.is_numeric and c.declared_categories() is None:
                missing.append(f"categories of {c.name}")
        return missing

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": 1}
        if self.name:
            d["name"] = self.name
        d["draft"] = self.draft
        if tuple(self.na_values) != DEFAULT_NA_VALUES:
            d["na_values"] = list(self.na_values)
        d["columns"] = [c.to_dict() for c in self.columns]
        if self.notes:
            d["notes"] = list(self.notes)
        if self.public_record_count is not None:
            d["public_record_count"] = self.public_record_count
        if self.public_from_data:
            d["public_from_data"] = [dict(entry) for entry in self.public_from_data]
        if self.constraints:
            d["constraints"] = [c.to_dict() for c in self.constraints]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
        )

    def hash(self) -> str:
        """sha256 of the canonical JSON form (provenance)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def save(self, path: Path) -> None:
        text = self.to_json() if path.suffix == ".json" else self.to_yaml()
        path.write_text(text if text.endswith("\n") else text + "\n")

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "schema") -> Schema:
        if not isinstance(d, dict):
            raise SchemaError(f"{source}: expected a mapping with a 'columns' list")
        unknown = set(d) - {
            "version",
            "name",
            "draft",
            "na_values",
            "columns",
            "notes",
            "public_record_count",
            "public_from_data",
            "constraints",
        }
        if unknown:
            raise SchemaError(f"{source}: unknown top-level key(s): {', '.join(sorted(unknown))}")
        if d.get("version", 1) != 1:
            raise SchemaError(f"{source}: unsupported schema version {d.get('version')!r}")
        raw_columns = d.get("columns")
        if not isinstance(raw_columns, list) or not raw_columns:
            raise SchemaError(f"{source}: 'columns' must be a non-empty list")
        columns = tuple(_column_from_dict(c, source) for c in raw_columns)
        na_values = d.get("na_values", list(DEFAULT_NA_VALUES))
        if not isinstance(na_values, list) or not all(isinstance(v, str) for v in na_values):
            raise SchemaError(f"{source}: 'na_values' must be a list of strings")
        draft = d.get("draft", False)
        if not isinstance(draft, bool):
            raise SchemaError(f"{source}: 'draft' must be true or false")
        notes = d.get("notes", [])
        if not isinstance(notes, list):
            raise SchemaError(f"{source}: 'notes' must be a list of strings")
        count = d.get("public_record_count")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise SchemaError(f"{source}: 'public_record_count' must be a positive whole number")
        constraints = parse_constraints(d.get("constraints", []), source)
        try:
            return cls(
                columns=columns,
                name=str(d.get("name", "")),
                na_values=tuple(na_values),
                draft=draft,
                notes=tuple(str(n) for n in notes),
                public_record_count=count,
                public_from_data=_public_from_data(d.get("public_from_data", []), source),
                constraints=constraints,
            )
        except SchemaError as exc:
            if not str(exc).startswith("constraint"):
                raise
            raise SchemaError(f"{source}: {exc}") from None

    @classmethod
    def load(
        cls, path: str | Path, *, name: str | None = None, max_bytes: int = MAX_SCHEMA_BYTES
    ) -> Schema:
        """Read a YAML or JSON schema file (JSON by its ``.json`` suffix).

        ``name`` is how messages refer to the file (default: its path); a service passes the
        file's role ("the schema file") so that no server path reaches a client. Files over
        ``max_bytes`` are refused before they are read.
        """
        p = Path(path)
        label = name or str(p)
        try:
            size = p.stat().st_size
        except FileNotFoundError as exc:
            raise InputFileError(f"schema file not found: {label}") from exc
        except OSError as exc:
            raise InputFileError(f"cannot read schema file {label}: {type(exc).__name__}") from exc
        if size > max_bytes:
            raise SchemaError(f"{label} is larger than the limit of {max_bytes} bytes")
        try:
            with p.open("rb") as fh:
                raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputFileError(f"cannot read schema file {label}: {type(exc).__name__}") from exc
        if len(raw) > max_bytes:  # it grew while it was read
            raise SchemaError(f"{label} is larger than the limit of {max_bytes} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SchemaError(f"{label} is not UTF-8 text") from None
        data = parse_schema_text(text, json_format=p.suffix.lower() == ".json", source=label)
        return cls.from_dict(data, source=label)


class _SchemaTooComplex(Exception):
    """Raised inside the YAML composer; becomes a SchemaError naming the file."""


class _BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer with aliases refused and the document's nesting depth and node
    count capped while it is composed, so that neither a billion-laughs alias bomb nor
    ``[`` x 50,000 (Python recursion) can run."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _SchemaTooComplex("YAML aliases (*name) are not accepted in a schema")
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_SCHEMA_DEPTH:
            raise _SchemaTooComplex(f"nested too deeply (more than {MAX_SCHEMA_DEPTH} levels)")
        if self._nodes > MAX_SCHEMA_NODES:
            raise _SchemaTooComplex(f"has more than {MAX_SCHEMA_NODES} values")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


try:  # libyaml's parser (C, about 6x faster) feeding the bounded composer
    from yaml._yaml import CParser as _Parser

    class _BoundedYamlLoader(
        _Parser, _BoundedComposer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        # the C parser composes in C, unbounded: use the Python composer on its events
        compose_document = _BoundedComposer.compose_document
        compose_node = _BoundedComposer.compose_node
        compose_scalar_node = _BoundedComposer.compose_scalar_node
        compose_sequence_node = _BoundedComposer.compose_sequence_node
        compose_mapping_node = _BoundedComposer.compose_mapping_node
        get_single_node = _BoundedComposer.get_single_node

        def get_single_data(self) -> Any:
            node = self.get_single_node()
            return None if node is None else self.construct_document(node)

except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _BoundedYamlLoader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        _BoundedComposer,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            _BoundedComposer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def _check_shape(data: Any) -> None:
    """Depth and size of parsed JSON, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_SCHEMA_DEPTH:
            raise _SchemaTooComplex(f"nested too deeply (more than {MAX_SCHEMA_DEPTH} levels)")
        if nodes > MAX_SCHEMA_NODES:
            raise _SchemaTooComplex(f"has more than {MAX_SCHEMA_NODES} values")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def parse_schema_text(text: str, *, json_format: bool, source: str = "schema") -> Any:
    """Parse schema text (YAML, or JSON) into plain data in bounded time and memory;
    raises SchemaError with one line naming ``source``."""
    what = "JSON" if json_format else "YAML"
    try:
        if json_format:
            data = json.loads(text)
            _check_shape(data)
            return data
        loader = _BoundedYamlLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _SchemaTooComplex as exc:
        raise SchemaError(f"{source} is not accepted: {exc}") from None
    except RecursionError:
        raise SchemaError(
            f"{source} is not accepted: nested too deeply (more than {MAX_SCHEMA_DEPTH} levels)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SchemaError(f"{source} is not valid {what}{where}: {exc.problem}") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source} is not valid {what} (line {exc.lineno}): {exc.msg}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        # ValueError: e.g. an integer literal of more than 4,300 digits
        raise SchemaError(f"{source} is not valid {what}: {type(exc).__name__}") from None


_COLUMN_KEYS = {
    "name",
    "kind",
    "role",
    "min",
    "max",
    "categories",
    "nullable",
    "sensitive",
    "description",
}


def _public_from_data(raw: Any, source: str) -> tuple[dict[str, Any], ...]:
    what = f"{source}: 'public_from_data' must be a list of {{values: [COLUMN.FIELD, ...], by, at}}"
    if not isinstance(raw, list):
        raise SchemaError(what)
    entries = []
    for entry in raw:
        if not (
            isinstance(entry, dict)
            and set(entry) == {"values", "by", "at"}
            and isinstance(entry["values"], list)
            and all(isinstance(v, str) for v in entry["values"])
            and isinstance(entry["by"], str)
            and isinstance(entry["at"], str)
        ):
            raise SchemaError(what)
        entries.append({"values": list(entry["values"]), "by": entry["by"], "at": entry["at"]})
    return tuple(entries)


def _column_from_dict(d: Any, source: str) -> ColumnSpec:
    if not isinstance(d, dict) or "name" not in d:
        raise SchemaError(f"{source}: every column needs at least a 'name'")
    name = str(d["name"])
    unknown = set(d) - _COLUMN_KEYS
    if unknown:
        raise SchemaError(f"{source}: column {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    role = d.get("role", "feature")
    if role not in ROLES:
        raise SchemaError(f"{source}: column {name!r}: role must be one of {', '.join(ROLES)}")
    kind = d.get("kind", "categorical")
    if kind not in KINDS:
        raise SchemaError(f"{source}: column {name!r}: kind must be one of {', '.join(KINDS)}")
    categories = d.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or not categories:
            raise SchemaError(f"{source}: column {name!r}: 'categories' must be a non-empty list")
        if not all(isinstance(v, str | int | float | bool) for v in categories):
            raise SchemaError(f"{source}: column {name!r}: categories must be strings or numbers")
        categories = tuple(categories)
    for key in ("nullable", "sensitive"):
        if not isinstance(d.get(key, False), bool):
            raise SchemaError(f"{source}: column {name!r}: '{key}' must be true or false")
    bounds = []
    for key in ("min", "max"):
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise SchemaError(f"{source}: column {name!r}: '{key}' must be a number")
        try:
            bounds.append(None if v is None else float(v))
        except OverflowError:  # an integer beyond the range of floats
            raise SchemaError(
                f"{source}: column {name!r}: '{key}' must be a finite number"
            ) from None
    return ColumnSpec(
        name=name,
        kind=kind,
        role=role,
        minimum=bounds[0],
        maximum=bounds[1],
        categories=categories,
        nullable=bool(d.get("nullable", False)),
        sensitive=bool(d.get("sensitive", False)),
        description=str(d.get("description", "")),
    )


def _check_column(c: ColumnSpec) -> None:
    where = f"column {c.name!r}"
    if not c.name:
        raise SchemaError("a column has an empty name")
    if c.role in ("identifier", "entity"):
        return
    if c.is_numeric:
        if c.categories is not None and c.role != "label":
            raise SchemaError(f"{where}: a {c.kind} column takes bounds, not categories")
        for v in (c.minimum, c.maximum):
            if v is not None and not math.isfinite(v):
                raise SchemaError(f"{where}: bounds must be finite numbers")
        if (c.minimum is None) != (c.maximum is None):
            raise SchemaError(f"{where}: declare both min and max, or neither")
        if c.has_bounds and c.minimum >= c.maximum:  # type: ignore[operator]
            raise SchemaError(f"{where}: min must be smaller than max")
        integral = c.has_bounds and float(c.minimum).is_integer() and float(c.maximum).is_integer()  # type: ignore[arg-type]
        if c.kind == "integer" and c.has_bounds and not integral:
            raise SchemaError(f"{where}: an integer column needs integer bounds")
    else:
        if c.minimum is not None or c.maximum is not None:
            raise SchemaError(f"{where}: a {c.kind} column takes categories, not bounds")
        if c.categories is not None:
            keys = [category_key(v) for v in c.categories]
            if len(set(keys)) != len(keys):
                raise SchemaError(f"{where}: categories are listed more than once")
    if c.role == "label":
        if c.nullable:
            raise SchemaError(f"{where}: the label cannot have nulls (every record needs a class)")
        if c.kind == "continuous":
            raise SchemaError(
                f"{where}: the label must be categorical, boolean or integer (synthgen "
                "conditions on classes; bin a continuous outcome first)"
            )
        count = c.declared_category_count()  # counted, never listed
        if count is not None and count > MAX_CLASSES:
            raise SchemaError(
                f"{where}: a label with more than {MAX_CLASSES} classes is not supported"
            )
