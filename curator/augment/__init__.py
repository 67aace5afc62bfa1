"""Rebalancing and augmentation of the train split: text with nlpaug, images with albumentations.

Every new row has its own id, a ``parent_id`` and, in the ledger, the augmenter and its parameters;
it goes through the rule set again and is checked against its parent and every existing row.
"""
