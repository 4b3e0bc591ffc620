import numpy as np

from active_learning.training import _positions


def test_item_ids_map_to_their_pool_positions_in_any_order_and_missing_ones_to_minus_one():
    pool_ids = np.array([40, 10, 30, 20], dtype=np.int64)  # not in id order
    assert _positions(pool_ids, [20, 40, 99, 10, 5]).tolist() == [3, 0, -1, 1, -1]
    assert _positions(np.sort(pool_ids), [30, 41]).tolist() == [2, -1]


def test_an_empty_pool_or_no_ids_find_nothing():
    assert _positions(np.array([], dtype=np.int64), [1, 2]).tolist() == [-1, -1]
    assert _positions(np.array([1, 2], dtype=np.int64), []).tolist() == []
