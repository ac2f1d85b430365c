"""The actual fill of a confirmed swap, from the transaction's pre/post balances and ``meta.fee``.

Nothing is taken from the quote. For our wallet ``W`` and the order's mint ``M``:

- token delta = Σ post − Σ pre over token balances of mint ``M`` owned by ``W``
  (what reached or left the wallet, after any Token-2022 transfer fee);
- rent = lamports of token accounts owned by ``W`` created by this transaction (locked, +)
  minus those closed by it (refunded, −); a wSOL account opened and closed in the same
  transaction nets to zero;
- tip = lamports paid to a known Jito tip account;
- the SOL leg = the wallet's lamport change with fee, rent and tip taken out:
  buy ``in = −Δ − fee − rent − tip``; sell ``out = Δ + fee + rent + tip``.

So ``Δlamports(W) = −(in + fee + rent + tip)`` for a buy exactly: the ledger reproduces the
wallet's on-chain balances to the lamport.
"""

from __future__ import annotations

from collections.abc import Collection

from chain.errors import ChainDataError
from chain.rpc_methods import ConfirmedTx
from chain.types import Fill, Side

#: Protocol: base fee charged per transaction signature.
LAMPORTS_PER_SIGNATURE = 5_000


def fill_from_tx(tx: ConfirmedTx, *, wallet: str, intent_id: str, mint: str, side: Side,
                 sol_usd: float, ts: int, token_decimals: int | None = None,
                 tip_accounts: Collection[str] = ()) -> Fill:
    """``token_decimals`` None: taken from the transaction's token balances (recovery)."""
    if tx.err is not None:
        raise ChainDataError(f"transaction {tx.signature} failed on chain; no fill")
    try:
        w = tx.account_keys.index(wallet)
    except ValueError:
        raise ChainDataError(f"transaction {tx.signature} does not involve our wallet") from None
    delta = tx.post_balances[w] - tx.pre_balances[w]

    pre = {b.account_index: b for b in tx.pre_token_balances if b.owner == wallet}
    post = {b.account_index: b for b in tx.post_token_balances if b.owner == wallet}
    token_delta = (sum(b.amount for b in post.values() if b.mint == mint)
                   - sum(b.amount for b in pre.values() if b.mint == mint))
    rent = 0
    for i in set(pre) | set(post):
        before, after = tx.pre_balances[i], tx.post_balances[i]
        if i not in pre and before == 0 and after > 0:
            rent += after  # opened by this transaction
        elif i not in post or (before > 0 and after == 0):
            rent -= before  # closed by this transaction (rent back to the wallet)
    tip = sum(tx.post_balances[i] - tx.pre_balances[i] for i, k in enumerate(tx.account_keys)
              if k in tip_accounts and i != w)
    if token_decimals is None:
        decs = {b.decimals for b in (*tx.pre_token_balances, *tx.post_token_balances) if b.mint == mint}
        if len(decs) != 1:
            raise ChainDataError(f"transaction {tx.signature}: cannot tell the decimals of {mint}")
        token_decimals = decs.pop()
    fee = tx.fee
    priority = max(0, fee - LAMPORTS_PER_SIGNATURE * tx.num_signatures)
    if side is Side.BUY:
        in_amount, out_amount = -delta - fee - rent - tip, token_delta
    else:
        in_amount, out_amount = -token_delta, delta + fee + rent + tip
    if in_amount < 0 or out_amount < 0:
        raise ChainDataError(f"transaction {tx.signature}: balances do not describe a {side} of "
                             f"{mint} (in {in_amount}, out {out_amount})")
    return Fill(intent_id=intent_id, mint=mint, side=side, in_amount=in_amount,
                out_amount=out_amount, token_decimals=token_decimals, network_fee_lamports=fee,
                priority_fee_lamports=priority, rent_lamports=rent, tip_lamports=tip, sol_usd=sol_usd,
                ts=ts, signature=tx.signature, paper=False)
