"""Scheduler wiring: *when* a service runs, never *what* it does.

- :mod:`jobs.scheduler` - the long-lived ``kdmon scheduler`` process: APScheduler 3 with its
  job store in kdmon's database, a leader lease so only one process enqueues, and a reconcile
  loop that follows the ``line`` table.
- :mod:`jobs.tasks` - the module-level functions APScheduler stores by address; each only
  enqueues a ``job_run`` row.
- :mod:`jobs.worker` - claims queued rows and runs the matching handler (``kdmon worker``).
- :mod:`jobs.handlers` - one small function per job kind that calls the service.
- :mod:`jobs.lease` - named leases with an expiry, in the ``lease`` table.

The inbox folders themselves (file in, moved to ``done/`` or ``failed/``) are an ingest
concern: :mod:`app.ingest.inbox`; the inbox job only calls it.

See ``docs/jobs.md`` for the operating guide.
"""
