-- Dead letters already put back on `deliveries` by `callapi-events dlq redrive`, so that a second redrive with
-- overlapping filters does not send them again (the DLQ topic itself is append-only). A letter is its topic,
-- partition and offset; its job id guards against a recreated topic reusing offsets. Rows older than the
-- DLQ's retention are deleted by the next redrive.
CREATE TABLE dlq_redrives (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    job_id       text NOT NULL,
    redriven_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX dlq_redrives_redriven_at ON dlq_redrives (redriven_at);
