"""The applicant schema, defined once: the 120 input columns of application_train.csv and their rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnKind = Literal["int", "float", "category"]

ID_COLUMN = "SK_ID_CURR"
TARGET_COLUMN = "TARGET"
EMPLOYED_SENTINEL = 365243
MAX_AGE_DAYS = 36_525  # 100 years: older applicants do not exist in the table and are typing errors
MIN_AGE_DAYS = 6_575  # 18 years: the lender only grants credit to adults


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its type, whether it may be missing, and its allowed range or levels."""

    name: str
    kind: ColumnKind
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    levels: tuple[str, ...] = ()
    special_values: tuple[float, ...] = ()
    rule: str = ""
    description: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind != "category"

    def describe_rule(self) -> str:
        """Human-readable statement of the rule, used in every error message."""
        if self.kind == "category":
            return "one of " + ", ".join(repr(level) for level in self.levels)
        bounds = f"between {_fmt(self.minimum)} and {_fmt(self.maximum)}"
        special = "".join(f" or exactly {_fmt(v)}" for v in self.special_values)
        return f"a number {bounds}{special}" + (f" ({self.rule})" if self.rule else "")

    def allows(self, value: float) -> bool:
        """Whether a non-missing numeric value respects the range (special values always pass); the
        columnar form of the rules, for whole batches, is ``columnar.broken_cells``."""
        if value in self.special_values:
            return True
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        return low <= value <= high


def _fmt(value: float | None) -> str:
    if value is None:
        return "unbounded"
    return str(int(value)) if float(value).is_integer() else str(value)


def _flag(name: str) -> ColumnSpec:
    return ColumnSpec(name, "int", False, 0, 1, rule="a 0/1 flag")


def _days(name: str, kind: ColumnKind = "int", nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(
        name, kind, nullable, -MAX_AGE_DAYS, 0, rule="days before the application, so negative or zero"
    )


def _count(name: str, maximum: float = 1000) -> ColumnSpec:
    return ColumnSpec(name, "float", True, 0, maximum, rule="a count, never negative")


def _category(name: str, levels: tuple[str, ...], nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(name, "category", nullable, levels=levels)


_BUILDING_STATS = (
    "APARTMENTS", "BASEMENTAREA", "YEARS_BEGINEXPLUATATION", "YEARS_BUILD", "COMMONAREA", "ELEVATORS",
    "ENTRANCES", "FLOORSMAX", "FLOORSMIN", "LANDAREA", "LIVINGAPARTMENTS", "LIVINGAREA",
    "NONLIVINGAPARTMENTS", "NONLIVINGAREA",
)  # fmt: skip


def _building(name: str) -> ColumnSpec:
    return ColumnSpec(name, "float", True, 0, 1, rule="a normalised building score")


def _building_block(suffix: str) -> list[ColumnSpec]:
    return [_building(f"{stat}_{suffix}") for stat in _BUILDING_STATS]


ORGANIZATION_TYPES = (
    "Business Entity Type 3", "XNA", "Self-employed", "Other", "Medicine", "Government",
    "Business Entity Type 2", "School", "Kindergarten", "Trade: type 7", "Construction", "Transport: type 4",
    "Business Entity Type 1", "Housing", "Industry: type 3", "Trade: type 3", "Industry: type 11",
    "Industry: type 9", "Transport: type 2", "Security", "Services", "Bank", "Military", "Agriculture",
    "Postal", "Security Ministries", "Police", "Trade: type 2", "Transport: type 3", "Restaurant",
    "University", "Industry: type 1", "Hotel", "Industry: type 7", "Electricity", "Emergency",
    "Trade: type 6", "Insurance", "Industry: type 12", "Industry: type 4", "Industry: type 5",
    "Industry: type 2", "Mobile", "Advertising", "Telecom", "Legal Services", "Trade: type 1",
    "Industry: type 10", "Culture", "Industry: type 13", "Realtor", "Transport: type 1", "Trade: type 5",
    "Cleaning", "Religion", "Trade: type 4", "Industry: type 8", "Industry: type 6",
)  # fmt: skip

OCCUPATION_TYPES = (
    "Laborers", "Sales staff", "Core staff", "Managers", "Drivers", "High skill tech staff", "Accountants",
    "Medicine staff", "Security staff", "Cooking staff", "Cleaning staff", "Private service staff",
    "Low-skill Laborers", "Waiters/barmen staff", "Secretaries", "Realty agents", "HR staff", "IT staff",
)  # fmt: skip

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")

# Levels are those of the full Kaggle table, including its rare ones (XNA, Unknown, Maternity leave),
# so that no real application is ever rejected.
APPLICATION_COLUMNS: tuple[ColumnSpec, ...] = (
    _category("NAME_CONTRACT_TYPE", ("Cash loans", "Revolving loans")),
    _category("CODE_GENDER", ("F", "M", "XNA")),
    _category("FLAG_OWN_CAR", ("N", "Y")),
    _category("FLAG_OWN_REALTY", ("Y", "N")),
    ColumnSpec("CNT_CHILDREN", "int", False, 0, 30, rule="number of children"),
    ColumnSpec("AMT_INCOME_TOTAL", "float", False, 1, 1e9, rule="yearly income, positive"),
    ColumnSpec("AMT_CREDIT", "float", False, 1, 1e8, rule="credit amount, positive"),
    ColumnSpec("AMT_ANNUITY", "float", True, 1, 1e7, rule="loan annuity, positive"),
    ColumnSpec("AMT_GOODS_PRICE", "float", True, 0, 1e8, rule="price of the goods, never negative"),
    _category(
        "NAME_TYPE_SUITE",
        ("Unaccompanied", "Family", "Spouse, partner", "Children", "Other_B", "Other_A", "Group of people"),
        nullable=True,
    ),
    _category(
        "NAME_INCOME_TYPE",
        (
            "Working",
            "Commercial associate",
            "Pensioner",
            "State servant",
            "Unemployed",
            "Student",
            "Businessman",
            "Maternity leave",
        ),
    ),
    _category(
        "NAME_EDUCATION_TYPE",
        (
            "Secondary / secondary special",
            "Higher education",
            "Incomplete higher",
            "Lower secondary",
            "Academic degree",
        ),
    ),
    _category(
        "NAME_FAMILY_STATUS",
        ("Married", "Single / not married", "Civil marriage", "Separated", "Widow", "Unknown"),
    ),
    _category(
        "NAME_HOUSING_TYPE",
        (
            "House / apartment",
            "With parents",
            "Municipal apartment",
            "Rented apartment",
            "Office apartment",
            "Co-op apartment",
        ),
    ),
    ColumnSpec("REGION_POPULATION_RELATIVE", "float", False, 0, 1, rule="a population share"),
    ColumnSpec(
        "DAYS_BIRTH",
        "int",
        False,
        -MAX_AGE_DAYS,
        -MIN_AGE_DAYS,
        rule="age in days before the application: 18 to 100 years, so a birth date in the past",
    ),
    ColumnSpec(
        "DAYS_EMPLOYED",
        "int",
        False,
        -MAX_AGE_DAYS,
        0,
        special_values=(EMPLOYED_SENTINEL,),
        rule="days employed before the application; 365243 marks pensioners and the unemployed",
    ),
    _days("DAYS_REGISTRATION", kind="float"),
    _days("DAYS_ID_PUBLISH"),
    ColumnSpec("OWN_CAR_AGE", "float", True, 0, 100, rule="age of the car in years"),
    _flag("FLAG_MOBIL"),
    _flag("FLAG_EMP_PHONE"),
    _flag("FLAG_WORK_PHONE"),
    _flag("FLAG_CONT_MOBILE"),
    _flag("FLAG_PHONE"),
    _flag("FLAG_EMAIL"),
    _category("OCCUPATION_TYPE", OCCUPATION_TYPES, nullable=True),
    ColumnSpec("CNT_FAM_MEMBERS", "float", True, 1, 40, rule="family size, the applicant included"),
    ColumnSpec("REGION_RATING_CLIENT", "int", False, 1, 3, rule="region rating 1 to 3"),
    # The full Kaggle data holds one application rated -1 here; it must stay acceptable.
    ColumnSpec("REGION_RATING_CLIENT_W_CITY", "int", False, -1, 3, rule="region rating 1 to 3 (or -1)"),
    _category("WEEKDAY_APPR_PROCESS_START", WEEKDAYS),
    ColumnSpec("HOUR_APPR_PROCESS_START", "int", False, 0, 23, rule="hour of the day"),
    _flag("REG_REGION_NOT_LIVE_REGION"),
    _flag("REG_REGION_NOT_WORK_REGION"),
    _flag("LIVE_REGION_NOT_WORK_REGION"),
    _flag("REG_CITY_NOT_LIVE_CITY"),
    _flag("REG_CITY_NOT_WORK_CITY"),
    _flag("LIVE_CITY_NOT_WORK_CITY"),
    _category("ORGANIZATION_TYPE", ORGANIZATION_TYPES),
    *(ColumnSpec(f"EXT_SOURCE_{i}", "float", True, 0, 1, rule="an external score") for i in (1, 2, 3)),
    *_building_block("AVG"),
    *_building_block("MODE"),
    *_building_block("MEDI"),
    _category(
        "FONDKAPREMONT_MODE",
        ("reg oper account", "reg oper spec account", "org spec account", "not specified"),
        nullable=True,
    ),
    _category("HOUSETYPE_MODE", ("block of flats", "terraced house", "specific housing"), nullable=True),
    _building("TOTALAREA_MODE"),
    _category(
        "WALLSMATERIAL_MODE",
        ("Panel", "Stone, brick", "Block", "Wooden", "Mixed", "Monolithic", "Others"),
        nullable=True,
    ),
    _category("EMERGENCYSTATE_MODE", ("No", "Yes"), nullable=True),
    _count("OBS_30_CNT_SOCIAL_CIRCLE"),
    _count("DEF_30_CNT_SOCIAL_CIRCLE"),
    _count("OBS_60_CNT_SOCIAL_CIRCLE"),
    _count("DEF_60_CNT_SOCIAL_CIRCLE"),
    _days("DAYS_LAST_PHONE_CHANGE", kind="float", nullable=True),
    *(_flag(f"FLAG_DOCUMENT_{i}") for i in range(2, 22)),
    *(_count(f"AMT_REQ_CREDIT_BUREAU_{period}") for period in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR")),
)

COLUMNS_BY_NAME: dict[str, ColumnSpec] = {spec.name: spec for spec in APPLICATION_COLUMNS}
INPUT_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in APPLICATION_COLUMNS)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(s.name for s in APPLICATION_COLUMNS if s.is_numeric)
CATEGORICAL_COLUMNS: tuple[str, ...] = tuple(s.name for s in APPLICATION_COLUMNS if not s.is_numeric)
FILE_COLUMNS: tuple[str, ...] = (ID_COLUMN, TARGET_COLUMN, *INPUT_COLUMNS)


@dataclass(frozen=True)
class Violation:
    """One broken rule: which column, what rule, and how many rows (or which value) broke it."""

    column: str
    message: str
    rows: int = 1
    examples: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        shown = f" (e.g. {', '.join(map(repr, self.examples[:3]))})" if self.examples else ""
        count = f"{self.rows} row(s): " if self.rows > 1 else ""
        return f"{self.column}: {count}{self.message}{shown}"


def is_missing(value: Any) -> bool:
    """None and NaN both mean 'not provided' (JSON null, an empty CSV cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_value(spec: ColumnSpec, value: Any) -> str | None:
    """Why one value breaks its column's rule, or None when it is acceptable."""
    if is_missing(value):
        return None if spec.nullable else "is required and may not be missing"
    if spec.kind == "category":
        if not isinstance(value, str):
            return f"must be text, {spec.describe_rule()}; got {type(value).__name__} {value!r}"
        return None if value in spec.levels else f"must be {spec.describe_rule()}; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__} {value!r}"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (JSON allows it): outside every range
        return f"must be {spec.describe_rule()}; got an integer of {value.bit_length()} bits"
    if spec.kind == "int" and not number.is_integer():
        return f"must be a whole number; got {value!r}"
    return None if spec.allows(number) else f"must be {spec.describe_rule()}; got {value!r}"


def example_application() -> dict[str, Any]:
    """A worked, realistic application (first row of the Kaggle table's shape), for docs, tests and demos."""
    import json
    from importlib.resources import files

    text = files("credit_scoring").joinpath("resources/example_application.json").read_text()
    return json.loads(text)
