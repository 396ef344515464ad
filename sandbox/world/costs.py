"""Cloud cost: FinOps FOCUS exports (one file a month) and OpenCost's daily allocations.

FOCUS files go to ``exports/focus/<YYYY-MM>.csv`` (the earlier half of the months, FOCUS 1.0
columns) and ``exports/focus/<YYYY-MM>.parquet`` (the later half, FOCUS 1.2 columns). They cover
the whole days in [start, end): a billing export only lists closed days. Every row is one day
(``ChargePeriodStart`` inclusive, ``ChargePeriodEnd`` exclusive, UTC), and holds:

- per service, ``scale.cost_rows_per_service_day`` rows (compute, storage, database, network,
  cache, ...) tagged ``{<key>: <service>, "team": <team>}``, where the service key is
  ``backstage.io/component``, ``service`` or ``app`` depending on the service;
- per team, a shared-cluster row tagged only ``{"team": <team>}``;
- untagged rows: a shared NAT gateway (``Tags`` = ``{}``), support, a daily Savings Plan fee
  and its unused part per account, and tax per account (``Tags`` empty / null).

Compute of about 45 % of the services is covered by a Savings Plan: those rows have
``BilledCost`` 0 and an amortised ``EffectiveCost``, while the plan's daily fee row is billed
and has no effective cost (per account and day, billed and effective totals match). Each
department bills through its own sub-account in USD; the last department also has an EU
sub-account, billed in EUR, that half of its teams use (its amounts are never summed with
USD). Account ids are 12-digit strings, some with a leading zero: read ids as strings.

CSV files are written row by row in FOCUS column order with minimal quoting (numbers with fixed
decimals, ``YYYY-MM-DDTHH:MM:SSZ`` times); Parquet files hold strings, doubles and UTC
``timestamp[us]`` columns. Columns are generated in vectorised month batches from an RNG seeded
by (seed, month), so a month never depends on another one and every byte is reproducible.

OpenCost rows (``opencost`` table, ``date`` as ``YYYY-MM-DD``, amounts in USD) cover every day
in [start, horizon) (the server filters by its clock): one per service deployed through Argo CD
(namespace and ``app`` label = the service name), plus ``__idle__`` and ``__unallocated__``
(namespace = the key itself). ``pv_cost`` is NULL for services without volumes and
``network_cost`` NULL for ``__idle__``, as OpenCost returns ``null`` numbers.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sandbox.scales import Scale
from sandbox.world.catalog import Catalog

Write = Callable[[str, list[tuple]], None]

DAY = 86_400
BATCH = 10_000
EUR_PER_USD = 0.92
COMMITTED_RATE = 0.72  # effective / list for Savings-Plan-covered usage
CONTRACTED_RATE = 0.95  # negotiated discount on list prices

# FOCUS 1.2 columns in the order of the reference export; 1.0 has the 43 introduced by 1.0.
FOCUS_12_COLUMNS: tuple[str, ...] = (
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "InvoiceId",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "BillingCurrency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SkuPriceDetails",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "Tags",
)
FOCUS_11_12_ONLY = frozenset(
    {
        "InvoiceId",
        "BillingAccountType",
        "SubAccountType",
        "PricingCurrency",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
        "ServiceSubcategory",
        "SkuMeter",
        "SkuPriceDetails",
        "CommitmentDiscountQuantity",
        "CommitmentDiscountUnit",
        "CapacityReservationId",
        "CapacityReservationStatus",
    }
)
FOCUS_10_COLUMNS: tuple[str, ...] = tuple(c for c in FOCUS_12_COLUMNS if c not in FOCUS_11_12_ONLY)
TIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
# Numeric columns and their decimals in CSV.
NUMBER_COLUMNS: dict[str, int] = {
    "BilledCost": 6,
    "EffectiveCost": 6,
    "ListCost": 6,
    "ContractedCost": 6,
    "ListUnitPrice": 10,
    "ContractedUnitPrice": 10,
    "PricingQuantity": 4,
    "PricingCurrencyContractedUnitPrice": 10,
    "PricingCurrencyEffectiveCost": 6,
    "PricingCurrencyListUnitPrice": 10,
    "ConsumedQuantity": 4,
    "CommitmentDiscountQuantity": 6,
}
# Columns that depend on the month, not on the row's template.
MONTH_COLUMNS = ("InvoiceId",)

SERVICE_TAG_KEYS = ("backstage.io/component", "service", "app")

# Per-service cost lines: (kind, share of the service's daily cost, ServiceName,
# ServiceCategory, ServiceSubcategory, ResourceType, PricingUnit, list unit price USD, SkuMeter,
# SkuPriceDetails, weekend factor).
CATEGORIES: tuple[tuple, ...] = (
    (
        "compute",
        0.50,
        "AmazonEC2",
        "Compute",
        "Virtual Machines",
        "EC2 Instance",
        "Hours",
        0.096,
        "Compute",
        '{"InstanceType":"m6i.large","CoreCount":2,"MemorySize":8}',
        0.8,
    ),
    (
        "storage",
        0.12,
        "AmazonS3",
        "Storage",
        "Object Storage",
        "S3 Bucket",
        "GB-Month",
        0.023,
        "Storage",
        '{"StorageClass":"Standard"}',
        1.0,
    ),
    (
        "database",
        0.25,
        "AmazonRDS",
        "Databases",
        "Relational Databases",
        "DB Instance",
        "Hours",
        0.171,
        "Database",
        '{"InstanceType":"db.m6g.large","Engine":"PostgreSQL"}',
        0.95,
    ),
    (
        "network",
        0.08,
        "AWSDataTransfer",
        "Networking",
        "Network Connectivity",
        None,
        "GB",
        0.02,
        "Data Transfer",
        '{"x_TransferType":"InterAZ"}',
        0.85,
    ),
    (
        "cache",
        0.05,
        "AmazonElastiCache",
        "Databases",
        "Caching",
        "Cache Node",
        "Hours",
        0.068,
        "Cache",
        '{"InstanceType":"cache.t4g.medium"}',
        1.0,
    ),
)
REGIONS = {
    "USD": ("us-east-1", "US East (N. Virginia)"),
    "EUR": ("eu-central-1", "Europe (Frankfurt)"),
}


@dataclass
class Account:
    id: str
    name: str
    currency: str
    commits: bool  # has a Savings Plan
    tax_rate: float
    sp_id: str = ""


@dataclass(frozen=True)
class CostModel:
    """How a template's daily list cost moves (USD)."""

    base: float = 0.0  # list cost a day at the start
    unit_price: float = 1.0  # list unit price
    growth: float = 0.0  # list cost growth a year
    weekend: float = 1.0  # weekend factor
    committed: bool = False  # covered by a Savings Plan


@dataclass
class Templates:
    """One entry per distinct kind of row: its static strings and its cost model."""

    strings: dict[str, list[str | None]] = field(default_factory=dict)
    kind: list[str] = field(default_factory=list)  # usage, fee, unused, tax
    account: list[int] = field(default_factory=list)
    models: list[CostModel] = field(default_factory=list)

    def add(
        self, kind: str, account: int, model: CostModel | None = None, /, **strings: str | None
    ) -> None:
        n = len(self.kind)
        for col in FOCUS_12_COLUMNS:
            if col in TIME_COLUMNS or col in NUMBER_COLUMNS or col in MONTH_COLUMNS:
                continue
            if col not in self.strings:
                self.strings[col] = [None] * n
            self.strings[col].append(strings.get(col))
        self.kind.append(kind)
        self.account.append(account)
        self.models.append(model or CostModel())


def _np_rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _accounts(cat: Catalog, rng: random.Random) -> tuple[list[Account], dict[str, int], int]:
    """Sub-accounts: one per department (USD), an EU one (EUR) and the shared infra one."""
    accounts = [
        Account(
            f"0{rng.randrange(10**10, 10**11)}" if i == 0 else f"{rng.randrange(10**11, 10**12)}",
            f"{d}-prod",
            "USD",
            True,
            0.06,
        )
        for i, d in enumerate(cat.departments)
    ]
    eu = len(accounts)
    accounts.append(
        Account(
            f"0{rng.randrange(10**10, 10**11)}", f"{cat.departments[-1]}-eu-prod", "EUR", True, 0.19
        )
    )
    shared = len(accounts)
    accounts.append(Account(f"{rng.randrange(10**11, 10**12)}", "shared-infra", "USD", False, 0.06))
    for a in accounts:
        if a.commits:
            a.sp_id = (
                f"arn:aws:savingsplans::{a.id}:savingsplan/"
                f"{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            )
    team_account: dict[str, int] = {}
    last = cat.departments[-1]
    for i, d in enumerate(cat.departments):
        for j, t in enumerate([t for t in cat.teams if t.parent == d]):
            team_account[t.name] = eu if d == last and j % 2 == 1 else i
    return accounts, team_account, shared


def _common(acct: Account) -> dict[str, str | None]:
    region, region_name = REGIONS[acct.currency]
    return {
        "ProviderName": "AWS",
        "PublisherName": "AWS",
        "InvoiceIssuerName": "AWS",
        "BillingAccountName": "Paved Sandbox Payer",
        "BillingAccountType": "Payer Account",
        "SubAccountId": acct.id,
        "SubAccountName": acct.name,
        "SubAccountType": "Linked Account",
        "BillingCurrency": acct.currency,
        "PricingCurrency": "USD",
        "RegionId": region,
        "RegionName": region_name,
    }


def _build_templates(cat: Catalog, scale: Scale, seed: int) -> tuple[Templates, list[Account]]:
    rng = random.Random(f"{seed}:costs:templates")
    accounts, team_account, shared = _accounts(cat, rng)
    billing_id = f"0{rng.randrange(10**10, 10**11)}"
    tpl = Templates()
    per_day = scale.cost_rows_per_service_day
    for i, svc in enumerate(cat.services):
        a = team_account[svc.team]
        acct = accounts[a]
        key = (
            SERVICE_TAG_KEYS[i]
            if i < len(SERVICE_TAG_KEYS)
            else rng.choices(SERVICE_TAG_KEYS, weights=(5, 3, 2))[0]
        )
        tags = json.dumps({key: svc.name, "team": svc.team}, separators=(",", ":"))
        daily = rng.lognormvariate(3.7, 0.9)  # USD a day, median about 40
        growth = rng.gauss(0.15, 0.2)
        commits = acct.commits and rng.random() < 0.45
        region = _common(acct)["RegionId"]
        for k in range(per_day):
            (
                kind,
                share,
                service_name,
                category,
                subcategory,
                rtype,
                unit,
                price,
                meter,
                details,
                weekend,
            ) = CATEGORIES[k % len(CATEGORIES)]
            suffix = "" if k < len(CATEGORIES) else f"-{k // len(CATEGORIES) + 1}"
            committed = commits and kind == "compute"
            rid = {
                "compute": f"arn:aws:ec2:{region}:{acct.id}:instance/i-{_hex(rng, 17)}",
                "storage": f"arn:aws:s3:::{svc.name}-data{suffix}",
                "database": f"arn:aws:rds:{region}:{acct.id}:db:{svc.name}-db{suffix}",
                "network": None,
                "cache": f"arn:aws:elasticache:{region}:{acct.id}:cluster:{svc.name}{suffix}",
            }[kind]
            tpl.add(
                "usage",
                a,
                CostModel(daily * share, price, growth, weekend, committed),
                **_common(acct),
                BillingAccountId=billing_id,
                ChargeCategory="Usage",
                ChargeDescription=f"{service_name} {meter.lower()} usage",
                ChargeFrequency="Usage-Based",
                PricingCategory="Committed" if committed else "Standard",
                PricingUnit=unit,
                ConsumedUnit=unit,
                ServiceName=service_name,
                ServiceCategory=category,
                ServiceSubcategory=subcategory,
                SkuId=f"SKU-{_hex(rng, 8).upper()}",
                SkuMeter=meter,
                SkuPriceId=f"SPRICE-{_hex(rng, 8)}",
                SkuPriceDetails=details,
                ResourceId=rid,
                ResourceName=None if rid is None else rid.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
                ResourceType=rtype,
                AvailabilityZone=f"{region}{'abc'[k % 3]}" if rtype else None,
                CommitmentDiscountId=acct.sp_id if committed else None,
                CommitmentDiscountName=f"ComputeSavingsPlan-{acct.name}" if committed else None,
                CommitmentDiscountCategory="Spend" if committed else None,
                CommitmentDiscountType="Compute Savings Plan" if committed else None,
                CommitmentDiscountStatus="Used" if committed else None,
                CommitmentDiscountUnit="USD" if committed else None,
                Tags=tags,
            )
    for t in cat.teams:
        a = team_account[t.name]
        acct = accounts[a]
        region = _common(acct)["RegionId"]
        rid = f"arn:aws:eks:{region}:{acct.id}:cluster/{t.name}-shared"
        tpl.add(
            "usage",
            a,
            CostModel(rng.lognormvariate(3.2, 0.5), 0.10, rng.gauss(0.1, 0.1)),
            **_common(acct),
            BillingAccountId=billing_id,
            ChargeCategory="Usage",
            ChargeDescription="Amazon EKS shared cluster",
            ChargeFrequency="Usage-Based",
            PricingCategory="Standard",
            PricingUnit="Hours",
            ConsumedUnit="Hours",
            ServiceName="AmazonEKS",
            ServiceCategory="Compute",
            ServiceSubcategory="Containers",
            SkuId=f"SKU-{_hex(rng, 8).upper()}",
            SkuMeter="Cluster",
            SkuPriceId=f"SPRICE-{_hex(rng, 8)}",
            ResourceId=rid,
            ResourceName=f"{t.name}-shared",
            ResourceType="EKS Cluster",
            Tags=json.dumps({"team": t.name}, separators=(",", ":")),
        )
    # Untagged: nobody's, kept as unallocated.
    acct = accounts[shared]
    n_services = max(1, len(cat.services))
    tpl.add(
        "usage",
        shared,
        CostModel(8.0 * n_services**0.8, 0.045, 0.1),
        **_common(acct),
        BillingAccountId=billing_id,
        ChargeCategory="Usage",
        ChargeDescription="NAT gateway data processed",
        ChargeFrequency="Usage-Based",
        PricingCategory="Standard",
        PricingUnit="GB",
        ConsumedUnit="GB",
        ServiceName="AmazonVPC",
        ServiceCategory="Networking",
        ServiceSubcategory="Network Connectivity",
        SkuId="SKU-NATGW",
        SkuMeter="Data Transfer",
        SkuPriceId="SPRICE-natgw",
        ResourceId=f"arn:aws:ec2:us-east-1:{acct.id}:natgateway/nat-{_hex(rng, 17)}",
        ResourceType="NAT Gateway",
        Tags="{}",
    )
    tpl.add(
        "usage",
        shared,
        CostModel(3.0 * n_services**0.8, 1.0, 0.05),
        **_common(acct),
        BillingAccountId=billing_id,
        ChargeCategory="Usage",
        ChargeDescription="AWS Support (Business)",
        ChargeFrequency="Recurring",
        PricingCategory="Standard",
        PricingUnit="Units",
        ServiceName="AWSSupportBusiness",
        ServiceCategory="Other",
        ServiceSubcategory="Support",
        SkuId="SKU-SUPPORT",
        SkuPriceId="SPRICE-support",
    )
    for a, acct in enumerate(accounts):
        if acct.commits:
            sp = {
                "CommitmentDiscountId": acct.sp_id,
                "CommitmentDiscountName": f"ComputeSavingsPlan-{acct.name}",
                "CommitmentDiscountCategory": "Spend",
                "CommitmentDiscountType": "Compute Savings Plan",
                "CommitmentDiscountUnit": "USD",
            }
            tpl.add(
                "fee",
                a,
                **_common(acct),
                **sp,
                BillingAccountId=billing_id,
                ChargeCategory="Purchase",
                ChargeDescription="Savings Plan recurring fee",
                ChargeFrequency="Recurring",
                PricingCategory="Committed",
                ServiceName="ComputeSavingsPlans",
                ServiceCategory="Compute",
                ServiceSubcategory="Virtual Machines",
                ResourceId=acct.sp_id,
                ResourceType="Savings Plan",
            )
            tpl.add(
                "unused",
                a,
                **_common(acct),
                **sp,
                BillingAccountId=billing_id,
                ChargeCategory="Usage",
                ChargeDescription="Unused Savings Plan commitment",
                ChargeFrequency="Usage-Based",
                PricingCategory="Committed",
                ServiceName="ComputeSavingsPlans",
                ServiceCategory="Compute",
                ServiceSubcategory="Virtual Machines",
                ResourceId=acct.sp_id,
                ResourceType="Savings Plan",
                CommitmentDiscountStatus="Unused",
            )
        tpl.add(
            "tax",
            a,
            **_common(acct),
            BillingAccountId=billing_id,
            ChargeCategory="Tax",
            ChargeDescription="VAT" if acct.currency == "EUR" else "Sales tax",
            ChargeFrequency="Recurring",
            ServiceName="Tax",
            ServiceCategory="Other",
            ServiceSubcategory="Other (Other)",
            Tags=None if a % 2 else "{}",
        )
    return tpl, accounts


def _csv_text(value: str | None) -> str | None:
    if value is None:
        return None
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _months(first_day: int, last_day: int) -> list[tuple[str, int, int, int, int]]:
    """(YYYY-MM, first data day, end data day (excl.), billing period start/end) per month."""
    out = []
    d = datetime.fromtimestamp(first_day * DAY, UTC)
    y, m = d.year, d.month
    while True:
        p_start = int(datetime(y, m, 1, tzinfo=UTC).timestamp()) // DAY
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        p_end = int(datetime(ny, nm, 1, tzinfo=UTC).timestamp()) // DAY
        lo, hi = max(p_start, first_day), min(p_end, last_day)
        if lo >= last_day:
            break
        if lo < hi:
            out.append((f"{y:04d}-{m:02d}", lo, hi, p_start, p_end))
        y, m = ny, nm
    return out


def _ts(day: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day * DAY))


@dataclass
class _Static:
    """Template columns as Arrow arrays, ready to be taken row-wise."""

    raw: dict[str, pa.Array]
    csv: dict[str, pa.Array]
    account: np.ndarray
    base: np.ndarray
    unit_price: np.ndarray
    growth: np.ndarray
    weekend: np.ndarray
    committed: np.ndarray
    regular: np.ndarray  # template ids of the usage rows generated per day
    fee: np.ndarray  # per account: fee template id or -1
    unused: np.ndarray
    tax: np.ndarray
    rate: np.ndarray  # per account: billing currency per USD
    tax_rate: np.ndarray
    currency: np.ndarray  # per account: 0 USD, 1 EUR


def _static(tpl: Templates, accounts: list[Account]) -> _Static:
    raw = {c: pa.array(v, pa.string()) for c, v in tpl.strings.items()}
    csv = {c: pa.array([_csv_text(x) for x in v], pa.string()) for c, v in tpl.strings.items()}
    kinds = np.array(tpl.kind)
    acct = np.array(tpl.account, dtype=np.int64)
    per_account = {}
    for kind in ("fee", "unused", "tax"):
        arr = np.full(len(accounts), -1, dtype=np.int64)
        for t in np.flatnonzero(kinds == kind):
            arr[acct[t]] = t
        per_account[kind] = arr
    return _Static(
        raw=raw,
        csv=csv,
        account=acct,
        base=np.array([m.base for m in tpl.models]),
        unit_price=np.array([m.unit_price for m in tpl.models]),
        growth=np.array([m.growth for m in tpl.models]),
        weekend=np.array([m.weekend for m in tpl.models]),
        committed=np.array([m.committed for m in tpl.models]),
        regular=np.flatnonzero(kinds == "usage"),
        fee=per_account["fee"],
        unused=per_account["unused"],
        tax=per_account["tax"],
        rate=np.array([EUR_PER_USD if a.currency == "EUR" else 1.0 for a in accounts]),
        tax_rate=np.array([a.tax_rate for a in accounts]),
        currency=np.array([1 if a.currency == "EUR" else 0 for a in accounts]),
    )


def _month_rows(
    st: _Static, seed: int, label: str, lo: int, hi: int, first_day: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Template id, day and the USD amounts of every row of one month, in day order."""
    rng = _np_rng(seed, "costs", label)
    days = np.arange(lo, hi, dtype=np.int64)
    n_days, n_reg, n_acct = len(days), len(st.regular), len(st.rate)
    tid = np.tile(st.regular, n_days)
    day = np.repeat(days, n_reg)
    years = (day - first_day) / 365.0
    weekend = ((day + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    factor = np.maximum(1.0 + st.growth[tid] * years, 0.3)
    factor = factor * np.where(weekend, st.weekend[tid], 1.0)
    noise = np.clip(1.0 + 0.08 * rng.standard_normal(len(tid)), 0.5, 1.5)
    list_cost = st.base[tid] * factor * noise
    committed = st.committed[tid]
    contracted = list_cost * CONTRACTED_RATE
    effective = np.where(committed, list_cost * COMMITTED_RATE, contracted)
    billed = np.where(committed, 0.0, contracted)
    qty = list_cost / st.unit_price[tid]
    # Per account and day: Savings Plan use, its unused part and fee, then tax.
    cell = st.account[tid] * n_days + (day - lo)
    used = np.bincount(cell, weights=np.where(committed, effective, 0.0), minlength=n_acct * n_days)
    unused = used * rng.uniform(0.02, 0.08, n_acct * n_days)
    taxable = np.bincount(cell, weights=billed, minlength=n_acct * n_days) + used + unused
    acc_day = np.arange(n_acct * n_days)
    acc, dday = acc_day // n_days, days[acc_day % n_days]
    has_sp = st.fee[acc] >= 0
    extra_t = [st.fee[acc][has_sp], st.unused[acc][has_sp], st.tax[acc]]
    extra_d = [dday[has_sp], dday[has_sp], dday]
    fee = (used + unused)[has_sp]
    unused_sp = unused[has_sp]
    tax = taxable * st.tax_rate[acc]
    nan_sp = np.full(len(fee), np.nan)
    nan_tax = np.full(len(tax), np.nan)
    cols = {
        "list": [list_cost, fee, unused_sp, tax],
        "contracted": [contracted, fee, unused_sp, tax],
        "billed": [billed, fee, np.zeros(len(fee)), tax],
        "effective": [effective, np.zeros(len(fee)), unused_sp, tax],
        "qty": [qty, nan_sp, nan_sp, nan_tax],
        "sp_qty": [np.where(committed, effective, np.nan), nan_sp, unused_sp, nan_tax],
    }
    tid = np.concatenate([tid, *extra_t])
    day = np.concatenate([day, *extra_d])
    order = np.argsort(day, kind="stable")
    amounts = {k: np.concatenate(v)[order] for k, v in cols.items()}
    return tid[order], day[order], amounts


def _number_arrays(
    st: _Static, tid: np.ndarray, usd: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    rate = st.rate[st.account[tid]]
    kinds_usage = ~np.isnan(usd["qty"])
    unit = np.where(kinds_usage, st.unit_price[tid], np.nan)
    return {
        "BilledCost": usd["billed"] * rate,
        "EffectiveCost": usd["effective"] * rate,
        "ListCost": usd["list"] * rate,
        "ContractedCost": usd["contracted"] * rate,
        "ListUnitPrice": unit * rate,
        "ContractedUnitPrice": unit * CONTRACTED_RATE * rate,
        "PricingQuantity": usd["qty"],
        "PricingCurrencyContractedUnitPrice": unit * CONTRACTED_RATE,
        "PricingCurrencyEffectiveCost": usd["effective"],
        "PricingCurrencyListUnitPrice": unit,
        "ConsumedQuantity": usd["qty"],
        "CommitmentDiscountQuantity": usd["sp_qty"],
    }


def _string_bytes(arr: pa.Array) -> bytes:
    """The concatenated UTF-8 text of a string array (as Arrow holds it, no Python strings)."""
    if not pa.types.is_string(arr.type):  # 32-bit offsets below
        raise TypeError(f"expected a string array, got {arr.type}")
    _validity, offsets_buf, data = arr.buffers()
    assert offsets_buf is not None and data is not None
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)
    first, last = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return data.slice(first, last - first).to_pybytes()


def _write_csv(
    path: Path,
    st: _Static,
    tid: np.ndarray,
    day: np.ndarray,
    numbers: dict[str, np.ndarray],
    period: tuple[int, int],
) -> None:
    base_day = int(day.min())
    day_strings = pa.array([_ts(d) for d in range(base_day, int(day.max()) + 2)])
    periods = pa.array([_ts(period[0]), _ts(period[1])])
    step = 50_000  # rows rendered at a time: bounded memory
    with path.open("wb") as fh:
        fh.write((",".join(FOCUS_10_COLUMNS) + "\n").encode())
        for lo in range(0, len(tid), step):
            take = pa.array(tid[lo : lo + step])
            offset = day[lo : lo + step] - base_day
            idx, next_idx = pa.array(offset), pa.array(offset + 1)
            n = len(take)
            arrays = []
            for col in FOCUS_10_COLUMNS:
                if col == "ChargePeriodStart":
                    arrays.append(day_strings.take(idx))
                elif col == "ChargePeriodEnd":
                    arrays.append(day_strings.take(next_idx))
                elif col in ("BillingPeriodStart", "BillingPeriodEnd"):
                    which = 0 if col == "BillingPeriodStart" else 1
                    arrays.append(periods.take(pa.array(np.full(n, which, np.int64))))
                elif col in NUMBER_COLUMNS:
                    values = numbers[col][lo : lo + step]
                    nulls = np.isnan(values)
                    decimals = NUMBER_COLUMNS[col]
                    rounded = np.round(np.where(nulls, 0.0, values), decimals)
                    arr = pa.array(rounded, mask=nulls).cast(pa.decimal128(24, decimals))
                    arrays.append(arr.cast(pa.string()))
                else:
                    arrays.append(st.csv[col].take(take))
            join = pc.JoinOptions(null_handling="replace", null_replacement="")
            cells = pc.call_function("binary_join_element_wise", [*arrays, ","], join)
            # Each line with its newline, then the whole chunk straight from Arrow's buffer.
            lines = pc.call_function("binary_join_element_wise", [cells, "", "\n"], join)
            fh.write(_string_bytes(lines))


def _write_parquet(
    path: Path,
    st: _Static,
    tid: np.ndarray,
    day: np.ndarray,
    numbers: dict[str, np.ndarray],
    period: tuple[int, int],
    label: str,
) -> None:
    take = pa.array(tid)
    ts_type = pa.timestamp("us", tz="UTC")

    def times(values: np.ndarray) -> pa.Array:
        return pa.array(values * DAY * 1_000_000, pa.int64()).cast(ts_type)

    invoice = pa.array([f"INV-{label}-0001", f"INV-{label}-0002"]).take(
        pa.array(st.currency[st.account[tid]])
    )
    columns: dict[str, pa.Array] = {}
    for col in FOCUS_12_COLUMNS:
        if col == "ChargePeriodStart":
            columns[col] = times(day)
        elif col == "ChargePeriodEnd":
            columns[col] = times(day + 1)
        elif col in ("BillingPeriodStart", "BillingPeriodEnd"):
            value = period[0] if col == "BillingPeriodStart" else period[1]
            columns[col] = times(np.full(len(tid), value, dtype=np.int64))
        elif col == "InvoiceId":
            columns[col] = invoice
        elif col in NUMBER_COLUMNS:
            values = numbers[col]
            nulls = np.isnan(values)
            columns[col] = pa.array(
                np.round(np.where(nulls, 0.0, values), NUMBER_COLUMNS[col]), mask=nulls
            )
        else:
            columns[col] = st.raw[col].take(take)
    pq.write_table(pa.table(columns), path, compression="zstd")


def _opencost(cat: Catalog, *, seed: int, first_day: int, last_day: int, write: Write) -> int:
    rng = random.Random(f"{seed}:costs:opencost")
    argo = [s for s in cat.services if s.deploy_method.startswith("argocd")]
    names = sorted(s.name for s in argo)
    base = np.array([rng.lognormvariate(2.5, 0.8) for _ in names])  # USD a day in-cluster
    has_pv = np.array([rng.random() < 0.7 for _ in names])
    growth = np.array([rng.gauss(0.15, 0.2) for _ in names])
    idle_base = 0.15 * float(base.sum()) if len(base) else 5.0
    keys = [*names, "__idle__", "__unallocated__"]
    n = len(keys)
    rows = 0
    for lo in range(first_day, last_day, 31):
        hi = min(lo + 31, last_day)
        g = _np_rng(seed, "opencost", lo)
        days = np.arange(lo, hi)
        nd = len(days)
        years = np.repeat((days - first_day) / 365.0, n)
        scale = np.concatenate([base, [idle_base, 0.02 * idle_base]])
        trend = np.concatenate([growth, [0.05, 0.0]])
        total_base = np.tile(scale, nd) * np.maximum(1 + np.tile(trend, nd) * years, 0.3)
        noise = np.clip(1.0 + 0.1 * g.standard_normal((4, nd * n)), 0.3, 1.7)
        cpu = np.round(total_base * 0.55 * noise[0], 6)
        ram = np.round(total_base * 0.30 * noise[1], 6)
        pv = np.round(total_base * 0.10 * noise[2], 6)
        net = np.round(total_base * 0.05 * noise[3], 6)
        is_idle = np.tile(np.arange(n) == len(names), nd)
        pv_null = np.tile(np.concatenate([~has_pv, [True, False]]), nd)
        pv = np.where(pv_null, 0.0, pv)
        net = np.where(is_idle, 0.0, net)
        total = np.round(cpu + ram + pv + net, 6)
        pv_list = pv.astype(object)
        pv_list[pv_null] = None
        net_list = net.astype(object)
        net_list[is_idle] = None
        dates = [time.strftime("%Y-%m-%d", time.gmtime(int(d) * DAY)) for d in days]
        date_col = [d for d in dates for _ in range(n)]
        ns_col = keys * nd
        batch = list(
            zip(
                date_col,
                ns_col,
                ns_col,
                cpu.tolist(),
                ram.tolist(),
                pv_list.tolist(),
                net_list.tolist(),
                total.tolist(),
                strict=True,
            )
        )
        for i in range(0, len(batch), BATCH):
            write("opencost", batch[i : i + BATCH])
        rows += len(batch)
    return rows


def generate_costs(
    cat: Catalog,
    scale: Scale,
    *,
    seed: int,
    start: int,
    end: int,
    horizon: int,
    root: Path,
    write: Write,
) -> list[tuple[str, str]]:
    """Write the FOCUS exports and the OpenCost rows; return the (relative path, kind) of files.

    FOCUS covers the whole days in [start, end); OpenCost the whole days in [start, horizon).
    """
    tpl, accounts = _build_templates(cat, scale, seed)
    st = _static(tpl, accounts)
    first_day = -(-start // DAY)
    last_day = end // DAY
    months = _months(first_day, last_day)
    n_csv = (len(months) + 1) // 2
    folder = root / "exports" / "focus"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, str]] = []
    for i, (label, lo, hi, p_start, p_end) in enumerate(months):
        tid, day, usd = _month_rows(st, seed, label, lo, hi, first_day)
        numbers = _number_arrays(st, tid, usd)
        if i < n_csv:
            rel = f"exports/focus/{label}.csv"
            _write_csv(root / rel, st, tid, day, numbers, (p_start, p_end))
        else:
            rel = f"exports/focus/{label}.parquet"
            _write_parquet(root / rel, st, tid, day, numbers, (p_start, p_end), label)
        files.append((rel, "focus"))
    _opencost(cat, seed=seed, first_day=first_day, last_day=horizon // DAY, write=write)
    return files
