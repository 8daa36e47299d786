"""The web console: operator page, live feed, admin/KB/schedule API, preview proxy, /healthz, /metrics."""
