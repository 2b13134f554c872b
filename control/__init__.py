"""CallAPI Control: the REST API, web UI, outbox relay, delivery-log sink and database migrations."""
