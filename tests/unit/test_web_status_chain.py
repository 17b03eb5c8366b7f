"""Where the status page draws each item: the chain Zuul draws, failing items apart."""

from __future__ import annotations

from zuulish.web.chain import ChainInput, chain


def test_each_item_is_drawn_on_the_nearest_item_ahead() -> None:
    places = chain([ChainInput(1, False, ()), ChainInput(2, False, (1,)),
                    ChainInput(3, False, (1, 2))])
    assert [places[i].item_ahead for i in (1, 2, 3)] == [None, 1, 2]
    assert places[1].items_behind == [2] and places[2].items_behind == [3]
    assert all(p.in_chain and p.column == 0 and not p.line_through for p in places.values())


def test_a_failing_item_is_drawn_apart_and_the_items_behind_rebased() -> None:
    # 2 failed; 3 was restarted on 1 alone; 4 (no build set yet) goes on 3
    places = chain([ChainInput(1, False, ()), ChainInput(2, True, (1,)),
                    ChainInput(3, False, (1,)), ChainInput(4, False, None)])
    assert (places[2].in_chain, places[2].column, places[2].item_ahead) == (False, 1, 1)
    assert places[3].item_ahead == 1 and places[4].item_ahead == 3
    assert places[1].items_behind == [2, 3]
    assert places[2].line_through  # the chain's line runs past the failing item
    assert not places[3].line_through


def test_an_item_not_restarted_yet_is_drawn_on_what_it_was_built_on() -> None:
    places = chain([ChainInput(1, False, ()), ChainInput(2, True, (1,)),
                    ChainInput(3, False, (1, 2))])
    assert places[3].item_ahead == 2


def test_without_build_sets_items_follow_the_nearest_non_failing_item() -> None:
    places = chain([ChainInput(1, False, None), ChainInput(2, True, None),
                    ChainInput(3, True, None), ChainInput(4, False, None)])
    assert [places[i].item_ahead for i in (1, 2, 3, 4)] == [None, 1, 1, 1]
    assert places[2].line_through and places[3].line_through


def test_independent_sub_queues_draw_an_item_on_its_own_sub_queue() -> None:
    # 3 holds only 1 (2 changes another repository)
    places = chain([ChainInput(1, False, ()), ChainInput(2, False, ()),
                    ChainInput(3, False, (1,))])
    assert places[2].item_ahead is None and places[3].item_ahead == 1
    assert places[2].line_through


def test_ids_that_left_the_queue_are_ignored() -> None:
    # 7 merged already: held, but no longer drawn
    places = chain([ChainInput(1, False, (7,)), ChainInput(2, False, (7, 1))])
    assert places[1].item_ahead is None and places[2].item_ahead == 1


def test_an_independent_pipeline_has_no_chain() -> None:
    places = chain([ChainInput(1, True, ()), ChainInput(2, False, ())], dependent=False)
    assert all(p.item_ahead is None and p.column == 0 for p in places.values())
