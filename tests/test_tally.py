"""Tallies (dispatchwire/tally.py) read at a scrape as prometheus_client's own metrics would be."""

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from dispatchwire.tally import HistogramTally, LabelTally

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The registry's text, without the `_created` samples a tally does not keep."""
    return [line for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line]


def test_a_label_tally_reads_as_a_labelled_counter() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = LabelTally("frames", "Frames, by type", "type", registry=ours)
    counter = Counter("frames", "Frames, by type", ["type"], registry=theirs)
    assert exposition(ours) == exposition(theirs)  # nothing counted: no sample
    for kind in ["ack", "ping", "ack", "ack", 'a "quoted" one']:
        tally.inc(kind)
        counter.labels(kind).inc()
    assert exposition(ours) == exposition(theirs)
    assert ours.get_sample_value("frames_total", {"type": "ack"}) == 3


def test_a_histogram_tally_reads_as_a_histogram_bounds_included() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = HistogramTally("latency_seconds", "Latency", BUCKETS, registry=ours)
    histogram = Histogram("latency_seconds", "Latency", buckets=BUCKETS, registry=theirs)
    assert exposition(ours) == exposition(theirs)
    for value in [0.0, 0.001, 0.0011, 0.01, 0.5, 1.0, 2.0, 1e9]:  # on, between, beyond
        tally.observe(value)
        histogram.observe(value)
    assert exposition(ours) == exposition(theirs)
    assert ours.get_sample_value("latency_seconds_bucket", {"le": "0.001"}) == 2
    assert ours.get_sample_value("latency_seconds_count") == 8


def test_a_scrape_from_another_thread_reads_while_the_loop_counts() -> None:
    registry = CollectorRegistry()
    tally = LabelTally("frames", "Frames", "type", registry=registry)
    done, errors = threading.Event(), []

    def scrape() -> None:
        while not done.is_set():
            try:
                generate_latest(registry)
            except Exception as exc:  # pragma: no cover - what the test is for
                errors.append(exc)

    reader = threading.Thread(target=scrape)
    reader.start()
    for i in range(200_000):
        tally.inc(str(i % 500))  # new labels keep coming: the dict grows under the reader
    done.set()
    reader.join(timeout=30)
    assert not errors
    assert registry.get_sample_value("frames_total", {"type": "7"}) == 400
