-- Load one aggregate (-D sid=...): latest snapshot plus the tail, folded in C.
SELECT cqrs.load(:sid);
