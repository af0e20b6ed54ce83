import gc

import pytest

from faceaug.heap import fewer_collections


def test_the_collector_runs_rarely_inside_and_is_given_back_as_it_was_even_after_an_error():
    before = gc.get_threshold()
    with fewer_collections(young=12_345):
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > 0  # what was alive on entry is not walked again
        cycle: list = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cyclic garbage made inside is still collected
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a failed run")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
