"""The one generator of sample logs for the tests, the examples and the benchmarks.

Every sample is made here, by one of four means, with one command each:

    python -m tests.support.sample_logs recorded         # real workers -> tests/fixtures
    python -m tests.support.sample_logs derived          # entries etc. from those samples
    python -m tests.support.sample_logs synthetic        # tests/analyzers/report/fixtures
    python -m tests.support.sample_logs repeated KIND N  # benchmarks/.data: N lines of KIND
                                                         # (json, kubectl or json-wide)

* :mod:`.recorded`: real Celery workers (``tests.support.apps.instrumented`` and ``.plain``)
  run one workload; their output is committed in ``tests/fixtures`` with ``expected.json``.
* :mod:`.lines`: synthetic JSON lines with fixed times (``line``, ``execution``) whose
  findings are known, for the CLI tests.
* :mod:`.entries`: any of those lines laid out as Cloud Logging ``LogEntry`` objects (``entry``,
  ``kubectl_entries``) and Log Analytics rows (``analytics_row``); ``kubectl_line`` formats a
  line as ``kubectl logs --prefix --timestamps`` prints it; ``synthetic_entries(seed)`` is a
  seeded, messy workload touching every report section.
* :mod:`.repeated`: a recorded sample repeated with fresh ids and times, to any size.

Two samples are made elsewhere on purpose: ``scripts/make_examples.py`` records the bundled
``examples/`` from the *reference* worker (``worker.app``, the demo workload and the chord
monitor), and ``tests/fixtures/realworld/generate.py`` runs third-party logging setups (their
formats are the point). Both use the apps and formats here where they overlap.
"""
