"""Token safety rules: each failing rule becomes a ``Rejected`` naming it. Pure.

``TokenSafety`` fields are ``None`` when unknown; with ``reject_unknown`` an unknown fact fails
its rule as ``"<rule>_unknown"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.contracts import Rejected, TokenSafety
from bot.risk.config import SafetyConfig
from chain.types import QuoteCheck

#: Rules about the token program / authorities: a change here while holding is a rug signal.
CONTRACT_RULES = ("mint_authority", "freeze_authority", "transfer_fee", "permanent_delegate",
                  "transfer_hook", "non_transferable", "default_frozen")


def contract_violations(s: TokenSafety | None, cfg: SafetyConfig, *, unknown_fails: bool) -> list[tuple[str, str]]:
    """(rule, detail) for every enabled authority / Token-2022 rule the token fails."""
    out: list[tuple[str, str]] = []

    def flag(rule: str, enabled: bool, value: bool | None, what: str) -> None:
        if not enabled:
            return
        if value is None:
            if unknown_fails:
                out.append((f"{rule}_unknown", f"{what}: unknown"))
        elif value:
            out.append((rule, what))

    flag("mint_authority", cfg.reject_mint_authority, None if s is None else s.mint_authority_set,
         "mint authority is set (supply can be inflated)")
    flag("freeze_authority", cfg.reject_freeze_authority, None if s is None else s.freeze_authority_set,
         "freeze authority is set (token accounts can be frozen)")
    # Token-2022 extension facts only matter for Token-2022 mints; a classic SPL token has none.
    if s is not None and s.token_2022 is False:
        return out
    fee = None if s is None else s.transfer_fee_bps
    flag("transfer_fee", True, None if fee is None else fee > cfg.max_transfer_fee_bps,
         f"Token-2022 transfer fee {fee:g} bps above limit {cfg.max_transfer_fee_bps:g}"
         if fee is not None else "Token-2022 transfer fee")
    flag("permanent_delegate", cfg.reject_permanent_delegate, None if s is None else s.permanent_delegate,
         "Token-2022 permanent delegate can move holders' tokens")
    flag("transfer_hook", cfg.reject_transfer_hook, None if s is None else s.transfer_hook,
         "Token-2022 transfer hook can block or tax transfers")
    flag("non_transferable", cfg.reject_non_transferable, None if s is None else s.non_transferable,
         "token is non-transferable")
    flag("default_frozen", cfg.reject_default_frozen, None if s is None else s.default_frozen,
         "new token accounts start frozen")
    return out


def holder_share_violation(s: TokenSafety | None, cfg: SafetyConfig, *,
                           unknown_fails: bool) -> tuple[str, str] | None:
    """(rule, detail) when the top-10 holders own more than ``max_top10_holder_share`` of the supply
    (pool vaults, program-owned and burned accounts already left out by the chain read), or when
    the share is unknown and ``unknown_fails``."""
    share = None if s is None else s.top10_holder_share
    if share is None:
        return ("top10_holder_share_unknown", "holder concentration unknown") if unknown_fails else None
    if share > cfg.max_top10_holder_share:
        return ("top10_holder_share", f"top-10 holders own {share:.0%} of the supply (pool vaults excluded), "
                                      f"limit {cfg.max_top10_holder_share:.0%}")
    return None


def liquidity_mismatch(feed_usd: float, chain_usd: float) -> float:
    """How far the feed's liquidity figure and the chain's reserves disagree: ``|feed - chain| /
    max(feed, chain)``, 0 (equal) .. 1 (one of them is nothing); 0.5 = one is twice the other."""
    top = max(feed_usd, chain_usd)
    return abs(feed_usd - chain_usd) / top if top > 0 else 0.0


def pool_violation(s: TokenSafety | None, cfg: SafetyConfig, *, liquidity_usd: float | None,
                   unknown_fails: bool) -> tuple[str, str] | None:
    """(rule, detail) for the first pool rule the token's reference pool fails: LP burned or
    locked (``lp_burned_share``), the feed's liquidity against the on-chain reserves
    (``liquidity_mismatch``), the Pump.fun bonding curve (``bonding_curve_incomplete``,
    ``bonding_curve_progress``); ``<rule>_unknown`` for a fact that is unknown when
    ``unknown_fails`` (``bonding_curve_unknown``: whether the token is on a curve)."""
    if cfg.min_lp_burned_share > 0:
        share = None if s is None else s.lp_burned_share
        if share is None:
            if unknown_fails:
                return "lp_burned_share_unknown", "share of LP burned or locked unknown (pool not read or not readable)"
        elif share < cfg.min_lp_burned_share:
            return "lp_burned_share", (f"{share:.0%} of the pool's LP is burned or locked, minimum "
                                       f"{cfg.min_lp_burned_share:.0%}: the rest can be withdrawn")
    if cfg.max_liquidity_mismatch < 1:
        chain = None if s is None else s.pool_reserve_usd
        if chain is None or liquidity_usd is None:
            if unknown_fails:
                return "liquidity_mismatch_unknown", "on-chain pool reserves unknown"
        else:
            off = liquidity_mismatch(liquidity_usd, chain)
            if off > cfg.max_liquidity_mismatch:
                return "liquidity_mismatch", (f"feed liquidity ${liquidity_usd:,.0f} vs on-chain reserves "
                                              f"${chain:,.0f}: {off:.0%} apart, limit {cfg.max_liquidity_mismatch:.0%}")
    if cfg.reject_incomplete_bonding_curve or cfg.min_bonding_curve_progress > 0:
        on = None if s is None else s.on_bonding_curve
        if on is None:
            if unknown_fails:
                return "bonding_curve_unknown", "whether the token still trades on a Pump.fun bonding curve: unknown"
        elif on:
            if cfg.reject_incomplete_bonding_curve:
                return "bonding_curve_incomplete", "token still trades on its Pump.fun bonding curve (not graduated)"
            progress = None if s is None else s.bonding_curve_progress
            if progress is None:
                if unknown_fails:
                    return "bonding_curve_progress_unknown", "Pump.fun bonding curve progress unknown"
            elif progress < cfg.min_bonding_curve_progress:
                return "bonding_curve_progress", (f"Pump.fun bonding curve {progress:.0%} complete, minimum "
                                                  f"{cfg.min_bonding_curve_progress:.0%}")
    return None


def entry_safety(s: TokenSafety | None, cfg: SafetyConfig, *, mint: str, liquidity_usd: float | None,
                 age_minutes: float | None, now: int) -> Rejected | None:
    """The first failing safety rule for a prospective entry, or None when all pass."""
    viol = contract_violations(s, cfg, unknown_fails=cfg.reject_unknown)
    if viol:
        return Rejected(mint, viol[0][0], viol[0][1])
    if liquidity_usd is None:
        if cfg.reject_unknown:
            return Rejected(mint, "min_liquidity_unknown", "pool liquidity unknown")
    elif liquidity_usd < cfg.min_liquidity_usd:
        return Rejected(mint, "min_liquidity",
                        f"liquidity ${liquidity_usd:,.0f} below minimum ${cfg.min_liquidity_usd:,.0f}")
    if s is not None and s.created_at is not None:
        age_minutes = (now - s.created_at) / 60.0
    if age_minutes is None:
        if cfg.reject_unknown and cfg.min_age_minutes > 0:
            return Rejected(mint, "min_age_unknown", "token age unknown")
    elif age_minutes < cfg.min_age_minutes:
        return Rejected(mint, "min_age", f"token is {age_minutes:.0f} min old, minimum {cfg.min_age_minutes:g}")
    held = holder_share_violation(s, cfg, unknown_fails=cfg.reject_unknown)
    if held:
        return Rejected(mint, *held)
    pooled = pool_violation(s, cfg, liquidity_usd=liquidity_usd, unknown_fails=cfg.reject_unknown)
    if pooled:
        return Rejected(mint, *pooled)
    if cfg.require_sell_route and s is not None and s.sell_route_ok is False:
        return Rejected(mint, "no_sell_route", "no sell route (reverse quote failed): possible honeypot")
    return None


def quote_checks(quote: QuoteCheck | None, cfg: SafetyConfig, *, mint: str, feed_price_usd: float) -> Rejected | None:
    """Checks on the executable-quote probe: honeypot, feed-vs-quote spread, price impact."""
    if quote is None:
        if cfg.reject_unknown or cfg.require_sell_route:
            return Rejected(mint, "no_quote", "no executable quote: cannot check the sell route")
        return None
    if quote.mint != mint:
        return Rejected(mint, "quote_mismatch", f"quote is for {quote.mint}")
    if cfg.require_sell_route and not quote.sell_route_ok:
        return Rejected(mint, "no_sell_route", f"reverse quote failed: possible honeypot {quote.detail}".strip())
    if not (quote.buy_price_usd > 0) or not (feed_price_usd > 0):
        return Rejected(mint, "quote_spread", f"unusable prices: quote {quote.buy_price_usd}, feed {feed_price_usd}")
    spread_bps = abs(quote.buy_price_usd / feed_price_usd - 1.0) * 10_000
    if spread_bps > cfg.max_quote_spread_bps:
        return Rejected(mint, "quote_spread",
                        f"quote ${quote.buy_price_usd:.6g} vs feed ${feed_price_usd:.6g}: {spread_bps:.0f} bps, "
                        f"limit {cfg.max_quote_spread_bps:g}")
    impact_bps = quote.price_impact_pct * 100
    if not (impact_bps <= cfg.max_price_impact_bps):
        return Rejected(mint, "price_impact",
                        f"price impact {impact_bps:.0f} bps above limit {cfg.max_price_impact_bps:g}")
    return None


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """What one entry rule reads, named as market dataset columns (``bot.dataset``; a replay maps
    them one to one onto ``TokenSafety`` and the market view). The one declaration the backtest's
    input-coverage table and its warnings before a run read.

    ``unknown``: the rejection a token-bar without these inputs gets (with ``reject_unknown``), or
    None when missing inputs do not reject. ``assumed``: what a replay takes instead when the
    dataset lacks ``assumed_without`` altogether (then nothing is rejected as unknown). ``gate``:
    a boolean first column whose false value settles the rule without the others (a classic SPL
    token has no Token-2022 extensions; a token off any bonding curve has no curve progress)."""

    rule: str
    columns: tuple[str, ...]
    unknown: str | None
    assumed: str = ""
    assumed_without: str = ""
    gate: str = ""


_CLASSIC_SPL = "no token_2022 column: tokens are taken as classic SPL tokens (no Token-2022 extensions)"


def entry_rule_inputs(cfg: SafetyConfig) -> tuple[RuleInputs, ...]:
    """The enabled entry safety rules (``entry_safety``) and the columns each needs to judge a token."""
    unknown = cfg.reject_unknown
    out: list[RuleInputs] = []

    def add(rule: str, enabled: bool, columns: tuple[str, ...], *, assumed: str = "", gate: str = "",
            unknown_rule: str = "") -> None:
        if enabled:
            out.append(RuleInputs(rule, columns, (unknown_rule or f"{rule}_unknown") if unknown else None, assumed,
                                  "token_2022" if assumed else "", gate))

    add("mint_authority", cfg.reject_mint_authority, ("mint_authority_set",))
    add("freeze_authority", cfg.reject_freeze_authority, ("freeze_authority_set",))
    add("transfer_fee", True, ("token_2022", "transfer_fee_bps"), assumed=_CLASSIC_SPL, gate="token_2022")
    for rule, flag in (("permanent_delegate", cfg.reject_permanent_delegate),
                       ("transfer_hook", cfg.reject_transfer_hook),
                       ("non_transferable", cfg.reject_non_transferable),
                       ("default_frozen", cfg.reject_default_frozen)):
        add(rule, flag, ("token_2022", rule), assumed=_CLASSIC_SPL, gate="token_2022")
    add("min_liquidity", True, ("liquidity_usd",))
    add("min_age", cfg.min_age_minutes > 0, ("pair_created_at",))
    add("top10_holder_share", True, ("top10_holder_share",))
    add("lp_burned_share", cfg.min_lp_burned_share > 0, ("lp_burned_share",))
    add("liquidity_mismatch", cfg.max_liquidity_mismatch < 1, ("pool_reserve_usd", "liquidity_usd"))
    curve = cfg.reject_incomplete_bonding_curve or cfg.min_bonding_curve_progress > 0
    add("bonding_curve_incomplete", cfg.reject_incomplete_bonding_curve, ("on_bonding_curve",),
        unknown_rule="bonding_curve_unknown")
    add("bonding_curve_progress", curve and not cfg.reject_incomplete_bonding_curve and cfg.min_bonding_curve_progress > 0,
        ("on_bonding_curve", "bonding_curve_progress"), gate="on_bonding_curve")
    return tuple(out)
