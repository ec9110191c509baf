-- All events of one stream (-D sid=...) through cqrs.read_stream.
SELECT * FROM cqrs.read_stream(:sid);
