-- Test notifications asked for from the API (`…/{type}/{id}/test`) or the web UI: each row is one DeliveryJob
-- (JSON) of a synthetic event for one request. The relay publishes it to `deliveries`, where a worker sends it as
-- any other notification (signed, retried, logged), then marks it sent; sent rows are deleted after a day. The
-- rows of the last minute also limit how many tests one request may be sent (a URL is not to be flooded).
CREATE TABLE test_notifications (
    id          bigserial PRIMARY KEY,
    extension   text NOT NULL,
    request_id  text NOT NULL,
    job         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX test_notifications_unsent ON test_notifications (id) WHERE sent_at IS NULL;
CREATE INDEX test_notifications_recent ON test_notifications (extension, request_id, created_at);
CREATE TRIGGER test_notifications_notify AFTER INSERT ON test_notifications
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();
