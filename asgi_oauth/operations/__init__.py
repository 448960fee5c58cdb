"""The operator's side: events (:mod:`.events`) every protocol step reports, Prometheus metrics (:mod:`.metrics`,
the ``metrics`` extra) and the liveness, readiness and metrics endpoints under the mount (:mod:`.health`)."""
