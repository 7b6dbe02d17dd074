"""One raw request of the embedded synthetic data, as a client sends it (the README's ``:predict``
examples use the same values): the user/context part, one candidate item, and both together.

``history_category`` is the categories of the ``history`` items, in the same order: the caller
joins the history with its catalogue, as it does for every user feature; ``item_ctr`` is the
item's click-through rate from the caller's feature store (the log's mean here).
"""

USER = {"user_age": 34, "user_gender": "F", "user_region": "r03", "timestamp": 1700000000,
        "history": ["i00003", "i00007"], "history_category": ["c13", "c19"]}
ITEM = {"item_id": "i00010", "item_category": "c02", "item_brand": "b010", "item_price": 19.99,
        "item_listed": 1669049988, "item_ctr": 0.15}
RAW = {"user_id": "u000001", **USER, **ITEM}
