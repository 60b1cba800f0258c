"""Synthetic application_train.csv rows that follow the published summary of the real table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from credit_scoring.data.copula import Copula, Pair, build_copula
from credit_scoring.data.marginals import Marginal, marginal_from_summary
from credit_scoring.data.summary import column_summaries, load_summary
from credit_scoring.data.target import TargetModel, calibrate_target
from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    CATEGORICAL_COLUMNS,
    EMPLOYED_SENTINEL,
    FILE_COLUMNS,
    ID_COLUMN,
    INPUT_COLUMNS,
    NUMERIC_COLUMNS,
    TARGET_COLUMN,
)

FIRST_ID, LAST_ID = 100_002, 456_255  # SK_ID_CURR range of the real table
MAX_ROWS = LAST_ID - FIRST_ID + 1
NOT_EMPLOYED_INCOME_TYPES = ("Pensioner", "Unemployed")
NOT_EMPLOYED_ORGANIZATION = "XNA"
MIN_WORKING_AGE_DAYS = 14 * 365  # nobody's career starts in childhood
# Not in the summary (it lists |rho| >= 0.3 over the whole column, where the 365243 sentinel hides it):
# among applicants with a job, older ones have longer careers. Both DAYS_* are negative, hence positive.
EMPLOYED_AGE_SPEARMAN = 0.35
BUILDING_SUFFIXES = ("_AVG", "_MODE", "_MEDI")
# Applicants hand in one document: the real flags exclude each other (their published Spearman rho sit at
# that bound), and document 6 is the one people without a job bring.
DOCUMENT_COLUMNS = tuple(name for name in NUMERIC_COLUMNS if name.startswith("FLAG_DOCUMENT_"))
OUT_OF_WORK_DOCUMENT = "FLAG_DOCUMENT_6"
MISSING_TOGETHER: dict[str, tuple[str, ...]] = {
    "building": tuple(name for name in FILE_COLUMNS if name.endswith(BUILDING_SUFFIXES)),
    "credit_bureau": tuple(name for name in FILE_COLUMNS if name.startswith("AMT_REQ_CREDIT_BUREAU_")),
    "social_circle": tuple(name for name in FILE_COLUMNS if name.endswith("_CNT_SOCIAL_CIRCLE")),
}
_REFERENCE_ROWS, _REFERENCE_SEED = 20_000, 20_240_601  # rows the TARGET law is calibrated on, once
_KIND = {spec.name: spec.kind for spec in APPLICATION_COLUMNS}
_SPEC = {spec.name: spec for spec in APPLICATION_COLUMNS}


@dataclass(frozen=True)
class _Plan:
    """Everything derived once from the summary: laws, copula, levels and null rates."""

    marginals: dict[str, Marginal]
    copula: Copula
    independent: tuple[str, ...]
    documents: dict[bool, np.ndarray]
    out_of_work_share: float
    levels: dict[str, dict[str, float]]
    null_rates: dict[str, float]


def _copula_pairs() -> list[Pair]:
    """Published strong pairs, DAYS_EMPLOYED's replaced: those describe the sentinel, set by employment."""
    pairs = [
        (first, second, rho)
        for first, second, rho in load_summary()["spearman_abs_ge_0_3"]
        if "DAYS_EMPLOYED" not in (first, second) and not {first, second} & set(DOCUMENT_COLUMNS)
    ]
    return [*pairs, ("DAYS_BIRTH", "DAYS_EMPLOYED", EMPLOYED_AGE_SPEARMAN)]


@cache
def _plan() -> _Plan:
    summaries = column_summaries()
    marginals = {name: marginal_from_summary(_SPEC[name], summaries[name]) for name in NUMERIC_COLUMNS}
    pairs = _copula_pairs()
    # Building pairs are many and tie-free enough for the closed form; the others are calibrated.
    exact = {name for name in NUMERIC_COLUMNS if name not in MISSING_TOGETHER["building"]}
    copula = build_copula(marginals, pairs, exact)
    drawn_apart = set(copula.columns) | set(DOCUMENT_COLUMNS)
    independent = tuple(name for name in NUMERIC_COLUMNS if name not in drawn_apart)
    levels = {name: summaries[name]["levels"] for name in CATEGORICAL_COLUMNS}
    null_rates = {name: float(summaries[name]["null_rate"]) for name in FILE_COLUMNS}
    out_of_work_share = _share_of(marginals["FLAG_EMP_PHONE"], 0.0)
    documents = _document_laws(marginals, out_of_work_share)
    return _Plan(marginals, copula, independent, documents, out_of_work_share, levels, null_rates)


def _share_of(marginal: Marginal, value: float) -> float:
    """Probability of one value under a discrete law."""
    index = int(np.searchsorted(marginal.values, value))
    found = index < marginal.values.size and marginal.values[index] == value
    return float(marginal.levels[index + 1] - marginal.levels[index]) if found else 0.0


def _published_rho(first: str, second: str) -> float:
    pairs = {frozenset((a, b)): rho for a, b, rho in load_summary()["spearman_abs_ge_0_3"]}
    return pairs.get(frozenset((first, second)), 0.0)


def _document_laws(marginals: dict[str, Marginal], idle: float) -> dict[bool, np.ndarray]:
    """Which document (or none, last) an applicant hands in, for those out of work (True) and the others.

    Each flag keeps its published share; document 6's excess among the jobless is set so that its
    correlation with FLAG_EMP_PHONE (for two 0/1 flags, Spearman's rho is the phi coefficient) is kept.
    """
    shares = np.array([_share_of(marginals[name], 1.0) for name in DOCUMENT_COLUMNS])
    special = DOCUMENT_COLUMNS.index(OUT_OF_WORK_DOCUMENT)
    base = shares[special]
    phi = -_published_rho("FLAG_EMP_PHONE", OUT_OF_WORK_DOCUMENT)
    given_idle = base + phi * np.sqrt(base * (1 - base) * idle * (1 - idle)) / idle
    given_work = (base - idle * given_idle) / (1 - idle)
    laws = {}
    for out_of_work, own in ((True, given_idle), (False, given_work)):
        law = np.append(shares, max(1.0 - shares.sum(), 0.0))
        law[special] = 0.0
        law *= (1.0 - own) / law.sum()
        law[special] = own
        laws[out_of_work] = np.cumsum(law) / law.sum()
    return laws


def _document_flags(plan: _Plan, out_of_work: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    u = rng.random(out_of_work.size)
    chosen = np.where(
        out_of_work,
        np.searchsorted(plan.documents[True], u, side="right"),
        np.searchsorted(plan.documents[False], u, side="right"),
    )
    return {name: (chosen == index).astype(float) for index, name in enumerate(DOCUMENT_COLUMNS)}


def _numeric_columns(plan: _Plan, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    uniforms = dict(zip(plan.copula.columns, plan.copula.uniforms(n_rows, rng).T, strict=True))
    uniforms |= dict(zip(plan.independent, rng.random((len(plan.independent), n_rows)), strict=True))
    values = {name: plan.marginals[name].ppf(u) for name, u in uniforms.items() if name != "DAYS_EMPLOYED"}
    working = values["FLAG_EMP_PHONE"] == 1
    values["DAYS_EMPLOYED"] = _career_days(
        plan.marginals["DAYS_EMPLOYED"], uniforms["DAYS_EMPLOYED"], working
    )
    return values


def _career_days(marginal: Marginal, u: np.ndarray, working: np.ndarray) -> np.ndarray:
    """DAYS_EMPLOYED of applicants with a job (NaN for the others, who get the sentinel later).

    Their uniforms are re-ranked among them: the job filter keeps the younger applicants, whose careers
    are shorter, and would otherwise bend the law away from the published one.
    """
    days = np.full(u.size, np.nan)
    chosen = u[working]
    ranks = (np.argsort(np.argsort(chosen)) + 0.5) / max(chosen.size, 1)
    days[working] = marginal.ppf(ranks)
    return days


def _draw_levels(law: dict[str, float], u: np.ndarray) -> np.ndarray:
    """Levels drawn by inverse CDF from their frequencies (renormalised: summaries round them)."""
    names = np.array(list(law), dtype=object)
    cumulative = np.cumsum(list(law.values()))
    return names[np.minimum(np.searchsorted(cumulative / cumulative[-1], u, side="right"), names.size - 1)]


def _split_law(law: dict[str, float], chosen: tuple[str, ...], keep: bool) -> dict[str, float]:
    return {level: share for level, share in law.items() if (level in chosen) == keep}


def _employment_level(
    plan: _Plan, name: str, chosen: tuple[str, ...], out_of_work: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """A level drawn among ``chosen`` for applicants out of work and among the others for the rest."""
    law = plan.levels[name]
    idle, working = _split_law(law, chosen, True), _split_law(law, chosen, False)
    return np.where(out_of_work, _draw_levels(idle, u), _draw_levels(working, u))


def _categorical_columns(
    plan: _Plan, out_of_work: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    uniforms = dict(
        zip(CATEGORICAL_COLUMNS, rng.random((len(CATEGORICAL_COLUMNS), out_of_work.size)), strict=True)
    )
    drawn = {name: _draw_levels(plan.levels[name], uniforms[name]) for name in CATEGORICAL_COLUMNS}
    drawn["NAME_INCOME_TYPE"] = _employment_level(
        plan, "NAME_INCOME_TYPE", NOT_EMPLOYED_INCOME_TYPES, out_of_work, uniforms["NAME_INCOME_TYPE"]
    )
    drawn["ORGANIZATION_TYPE"] = _employment_level(
        plan, "ORGANIZATION_TYPE", (NOT_EMPLOYED_ORGANIZATION,), out_of_work, uniforms["ORGANIZATION_TYPE"]
    )
    return drawn


def _make_consistent(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Tie employment columns together, enforce the real table's logical rules; return who is out of work."""
    out_of_work = columns["FLAG_EMP_PHONE"] == 0
    birth = columns["DAYS_BIRTH"]
    career = np.maximum(columns["DAYS_EMPLOYED"], birth + MIN_WORKING_AGE_DAYS)
    columns["DAYS_EMPLOYED"] = np.where(out_of_work, float(EMPLOYED_SENTINEL), career)
    columns["DAYS_REGISTRATION"] = np.maximum(columns["DAYS_REGISTRATION"], birth)
    columns["CNT_FAM_MEMBERS"] = np.maximum(columns["CNT_FAM_MEMBERS"], columns["CNT_CHILDREN"] + 1)
    return out_of_work


def _missing_masks(
    plan: _Plan, columns: dict[str, np.ndarray], out_of_work: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Which cells are empty: each column at its null rate, shared within the groups that share it."""
    n_rows = out_of_work.size
    group_of = {name: group for group, names in MISSING_TOGETHER.items() for name in names}
    shared = {group: rng.random(n_rows) for group in MISSING_TOGETHER}
    linked = {"OWN_CAR_AGE": columns["FLAG_OWN_CAR"] == "N", "OCCUPATION_TYPE": out_of_work.copy()}
    masks = {}
    for name in (n for n in FILE_COLUMNS if plan.null_rates[n] > 0 and n not in linked):
        u = shared[group_of[name]] if name in group_of else rng.random(n_rows)
        masks[name] = u < plan.null_rates[name]
    # Occupations are missing for everyone out of work, plus enough others to reach the null rate.
    idle = plan.out_of_work_share
    extra = max(plan.null_rates["OCCUPATION_TYPE"] - idle, 0.0) / (1.0 - idle)
    linked["OCCUPATION_TYPE"] |= rng.random(n_rows) < extra
    return masks | linked


@cache
def target_model() -> TargetModel:
    """The TARGET law, calibrated once on fixed reference rows so every frame shares the same P(default|x)."""
    target = load_summary()["target_signal"]
    reference = _applicant_columns(_REFERENCE_ROWS, np.random.default_rng(_REFERENCE_SEED))
    return calibrate_target(reference, float(load_summary()["target_rate"]), float(target["in_sample_auc"]))


def default_probability(frame: pd.DataFrame) -> np.ndarray:
    """Probability of default the generator draws TARGET from (the published fit, calibrated)."""
    return target_model().probability(frame)


def _typed(name: str, values: np.ndarray, missing: np.ndarray | None) -> pd.Series:
    """One column with the dtype pandas gives the real CSV: int64, float64, or str with NaN for empty."""
    if _KIND[name] == "category":
        text = values.astype(object)
        if missing is not None:
            text[missing] = np.nan
        return pd.Series(text, dtype="str", name=name)
    if _KIND[name] == "int":
        return pd.Series(values.astype(np.int64), name=name)
    numbers = values.astype(np.float64)
    return pd.Series(numbers if missing is None else np.where(missing, np.nan, numbers), name=name)


def _client_ids(n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Unique ids in the real range, sorted as in the real file (they are never model inputs)."""
    return np.sort(rng.choice(MAX_ROWS, size=n_rows, replace=False)).astype(np.int64) + FIRST_ID


def _applicant_columns(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """The 120 input columns of ``n_rows`` applicants, typed as pandas reads the real CSV."""
    plan = _plan()
    values: dict[str, np.ndarray] = _numeric_columns(plan, n_rows, rng)
    out_of_work = _make_consistent(values)
    values |= _document_flags(plan, out_of_work, rng) | _categorical_columns(plan, out_of_work, rng)
    masks = _missing_masks(plan, values, out_of_work, rng)
    return pd.DataFrame({name: _typed(name, values[name], masks.get(name)) for name in INPUT_COLUMNS})


def generate_applications(n_rows: int, seed: int = 42) -> pd.DataFrame:
    """``n_rows`` synthetic applications in the exact columns, order and dtypes of application_train.csv.

    Same seed, same frame. Built from the summary shipped in the package, all vectorised:

    * numeric columns: each column's inverse CDF (its 41 quantiles interpolated, or its value frequencies)
      applied to uniforms; columns in a published strong pair get theirs from a Gaussian copula, so the
      amounts, family sizes, region ratings, age and EXT_SOURCE_1, and the building block keep their rank
      correlations;
    * employment: FLAG_EMP_PHONE = 0 marks applicants without a job (18 %); they, and only they, get
      DAYS_EMPLOYED = 365243, ORGANIZATION_TYPE = XNA, income type Pensioner or Unemployed, no occupation,
      and mostly document 6, as in the real table; one document per applicant;
    * missing cells: each column's null rate, shared where the real table shares it (a row lacks all
      building columns together, all credit-bureau counts together; OWN_CAR_AGE is empty iff no car);
    * TARGET: drawn from the published logistic fit (``target_signal``), scaled and shifted once so the
      default rate and the fit's ROC-AUC equal the published ones.
    """
    if not 1 <= n_rows <= MAX_ROWS:
        raise ValueError(f"n_rows must be between 1 and {MAX_ROWS} (the SK_ID_CURR range); got {n_rows}")
    rng = np.random.default_rng(seed)
    ids = _client_ids(n_rows, rng)
    inputs = _applicant_columns(n_rows, rng)
    target = (rng.random(n_rows) < default_probability(inputs)).astype(np.int64)
    return pd.concat([pd.DataFrame({ID_COLUMN: ids, TARGET_COLUMN: target}), inputs], axis=1)
