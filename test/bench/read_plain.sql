-- The same rows with a plain SELECT of the same table shape.
SELECT global_position, stream_id, stream_type, version, event_type, data, metadata, event_id, recorded_at FROM bench.plain_events WHERE stream_id = :sid AND version >= 0 ORDER BY version;
