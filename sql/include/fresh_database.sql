-- Shared start of the regression files that need a database of their own
-- (so stream versions and global positions do not depend on what other
-- files appended).  Set test_db first; end the file with
-- \i sql/include/drop_database.sql (psql reads the files from the repository
-- root, where pg_regress runs).  Defines try(stmt), which runs a
-- statement and returns 'ok' or its SQLSTATE and message.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS :test_db;
CREATE DATABASE :test_db;
\c :test_db
SET client_min_messages = warning;
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;
