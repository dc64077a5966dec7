"""`python -m bot pd …`: the operator's personal-data keys (README, "Personal data").

    pd rotate-key [--batch N]   a new primary key, then every stored value re-encrypted under it,
                                in batches, while the bot runs (PD_KEY: re-encrypts under PD_KEY)
    pd keys                     the key ids, which one is primary, how many values each still opens
    pd index-key                the SNILS hash key, to set as PD_INDEX_KEY before moving to PD_KEY
"""
from __future__ import annotations

import argparse

from bot.config import Settings, use_pd_keys
from core import pd
from core.pd_rotation import BATCH, reencrypt, values_by_key


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("pd", help="personal-data keys: rotate-key, keys, index-key")
    actions = keys.add_subparsers(dest="pd_command", required=True, metavar="ACTION")
    rotate = actions.add_parser("rotate-key", help="new primary key; re-encrypt every value under it")
    rotate.add_argument("--batch", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})")
    actions.add_parser("keys", help="key ids and how many stored values each one opens")
    actions.add_parser("index-key", help="print the SNILS hash key (for PD_INDEX_KEY)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import open_database

    ring = use_pd_keys(settings)
    if args.pd_command == "index-key":
        print(pd.encode_key(ring.index_key))
        return 0
    db = await open_database(settings)
    try:
        if args.pd_command == "rotate-key":
            if not 1 <= args.batch <= 10_000:
                print("error: --batch must be between 1 and 10000")
                return 2
            if ring.path is not None:
                print(f"new primary key {pd.add_primary_key(ring)} in {ring.path}")
            else:
                print(f"keys from PD_KEY: re-encrypting under its key {ring.primary_id}")
            done = await reencrypt(db, ring, batch=args.batch, pause=0.01)
            print(f"re-encrypted {done.rows} row(s) in {done.batches} batch(es)")
        counts = await values_by_key(db)
        for key_id in ring.key_ids():
            role = "primary" if key_id == ring.primary_id else "old"
            print(f"key {key_id} ({role}): {counts.pop(key_id, 0)} value(s)")
        for key_id, count in counts.items():
            print(f"key {key_id} (NOT IN THE RING): {count} value(s)")
    finally:
        await db.dispose()
    return 0
