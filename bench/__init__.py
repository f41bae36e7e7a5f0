"""The benchmark harness behind `make bench`: dispatchwire beside the seed's Node stack.

`python -m bench --help` lists the options; docs/performance.md explains the scenarios, how the
figures are measured and the latest baseline.
"""
