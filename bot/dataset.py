"""The market dataset: one Parquet format for backtests, replays, simulations and recordings.

One row per token per one-minute bar. Required columns: ``ts`` (UTC datetime, bar start,
minute-aligned), ``mint``, ``symbol``, ``open``, ``high``, ``low``, ``close`` (USD),
``volume_usd``, ``liquidity_usd``, ``buys``, ``sells``. Optional columns are listed in
``OPTIONAL_SCHEMA``: whale flow, attention signals, the second pool's price, SOL/USD, token
decimals, pool creation time, token safety facts (authorities, holder concentration) and the
reference pool's facts read from the chain (reserves, LP burned or locked, Pump.fun bonding curve).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from bot.errors import DatasetError

TS_TYPE = pl.Datetime("us", "UTC")

REQUIRED_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_TYPE,
    "mint": pl.String(),
    "symbol": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume_usd": pl.Float64(),
    "liquidity_usd": pl.Float64(),
    "buys": pl.Int64(),
    "sells": pl.Int64(),
}

OPTIONAL_SCHEMA: dict[str, pl.DataType] = {
    "whale_buy_usd": pl.Float64(),
    "whale_sell_usd": pl.Float64(),
    "boosts_active": pl.Float64(),
    "trending_rank": pl.Float64(),
    "alt_close": pl.Float64(),
    "sol_usd": pl.Float64(),
    "decimals": pl.Int64(),
    "pair_created_at": TS_TYPE,
    # the mint's token program and Token-2022 extensions (as of that bar), read from the chain by
    # `solbot record`; a dataset without `token_2022` is replayed as classic SPL tokens
    "token_2022": pl.Boolean(),
    "transfer_fee_bps": pl.Float64(),
    "permanent_delegate": pl.Boolean(),
    "transfer_hook": pl.Boolean(),
    "non_transferable": pl.Boolean(),
    "default_frozen": pl.Boolean(),
    # token safety facts (as of that bar); replay turns them into TokenSafety reports
    "mint_authority_set": pl.Boolean(),
    "freeze_authority_set": pl.Boolean(),
    "top10_holder_share": pl.Float64(),
    # pool facts of the token's reference pool (as of that bar), read from the chain; replay turns
    # them into the same TokenSafety pool fields the live engine fills, so backtests judge entries by
    # the same [risk.safety] rules (the reserves, which move every bar, travel as PoolReserves).
    # Null = unknown.
    "pool_reserve_usd": pl.Float64(),  # both sides of the pool's on-chain reserves, in USD
    "lp_burned_share": pl.Float64(),  # 0..1: share of the pool's LP tokens burned or held by known lockers
    # still trading on an incomplete Pump.fun bonding curve (false: graduated, or never had one)
    "on_bonding_curve": pl.Boolean(),
    "bonding_curve_progress": pl.Float64(),  # 0..1: that curve's progress (read when on_bonding_curve is true)
}

PRICE_COLUMNS = ("open", "high", "low", "close")


def conform(frame: pl.DataFrame, origin: str = "dataset") -> pl.DataFrame:
    """Validate a frame against the schema and cast it to the canonical types.

    Raises ``DatasetError`` naming what is wrong (missing columns, uncastable types, nulls in
    required columns, non-positive prices, ts not minute-aligned, duplicate (ts, mint) rows).
    Unknown extra columns are dropped.
    """
    missing = [c for c in REQUIRED_SCHEMA if c not in frame.columns]
    if missing:
        raise DatasetError(f"{origin}: missing required column(s) {', '.join(missing)}; "
                           f"a market dataset needs {', '.join(REQUIRED_SCHEMA)}")
    schema = {**REQUIRED_SCHEMA, **{k: v for k, v in OPTIONAL_SCHEMA.items() if k in frame.columns}}
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if dtype == TS_TYPE and frame.schema[name] != TS_TYPE:
            src = frame.schema[name]
            if isinstance(src, pl.Datetime):
                col = col.dt.replace_time_zone("UTC") if src.time_zone is None else col.dt.convert_time_zone("UTC")
                col = col.dt.cast_time_unit("us")
            else:
                raise DatasetError(f"{origin}: column {name!r} must be a UTC datetime, got {src}")
        exprs.append(col.cast(dtype, strict=True).alias(name))
    try:
        out = frame.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise DatasetError(f"{origin}: a column has the wrong type ({exc.__class__.__name__}: "
                           f"{str(exc).splitlines()[0]})") from None
    nulls = [c for c in REQUIRED_SCHEMA if out[c].null_count()]
    if nulls:
        raise DatasetError(f"{origin}: null values in required column(s) {', '.join(nulls)}")
    if out.height:
        bad_price = out.filter(pl.any_horizontal([(pl.col(c) <= 0) | pl.col(c).is_nan()
                                                  for c in PRICE_COLUMNS]))
        if bad_price.height:
            row = bad_price.row(0, named=True)
            raise DatasetError(f"{origin}: {bad_price.height} row(s) with a non-positive or NaN price, "
                               f"first at ts={row['ts']} mint={row['mint']}")
        unaligned = out.filter(pl.col("ts").dt.epoch("s") % 60 != 0)
        if unaligned.height:
            raise DatasetError(f"{origin}: ts must be minute-aligned bar starts; "
                               f"{unaligned.height} row(s) are not (first {unaligned['ts'][0]})")
        dups = out.select(pl.struct("ts", "mint").is_duplicated().sum()).item()
        if dups:
            raise DatasetError(f"{origin}: {dups} duplicate (ts, mint) rows")
    return out.sort("ts", "mint")


def read_dataset(path: str | Path) -> pl.DataFrame:
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"dataset {p} does not exist; create one with `solbot simulate --out {p}` "
                           "or `solbot record --out ...`")
    if p.is_dir():
        raise DatasetError(f"dataset {p} is a directory; expected a .parquet file")
    try:
        frame = pl.read_parquet(p)
    except Exception as exc:  # polars raises several types for corrupt files
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DatasetError(f"dataset {p} is not a readable Parquet file ({first})") from None
    out = conform(frame, f"dataset {p}")
    if out.height == 0:
        raise DatasetError(f"dataset {p} has no rows")
    return out


def write_dataset(frame: pl.DataFrame, path: str | Path) -> Path:
    """Validate and write atomically (temp file + rename), so a crash never leaves half a file."""
    p = Path(path)
    out = conform(frame, f"dataset for {p}")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    out.write_parquet(tmp, compression="zstd", statistics=True)
    tmp.replace(p)
    return p
