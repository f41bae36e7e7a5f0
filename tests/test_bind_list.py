"""`bind_list`: an IN list's parameters, in few enough texts that SQLite prepares each once."""

from dispatchwire.store.sql import bind_list


def test_any_count_binds_the_same_set_in_one_of_a_few_texts() -> None:
    texts = set()
    for count in range(1, 1025):
        values = list(range(100, 100 + count))
        text, params = bind_list("id", values)
        texts.add(text)
        assert set(params.values()) == set(values)
        assert text.split(", ") == [f":{name}" for name in params]
    assert len(texts) == 11  # 1, 2, 4, ..., 1024


def test_no_values_bind_nothing() -> None:
    assert bind_list("id", []) == ("", {})
