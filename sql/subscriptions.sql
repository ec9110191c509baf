-- Durable subscriptions: subscribe, poll in global order, ack, resume.
-- A database of its own, so positions do not depend on other test files.
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS cqrs_subscriptions;
CREATE DATABASE cqrs_subscriptions;
\c cqrs_subscriptions
CREATE EXTENSION cqrs_conf;
RESET client_min_messages;
SELECT cqrs.subscribe('mailer');
SELECT cqrs.subscribe('mailer');          -- idempotent

SELECT cqrs.append('a0000000-0000-4000-8000-000000000001', 'Sub', -1,
       '[{"type": "One", "data": {"n": 1}}, {"type": "Two", "data": {"n": 2}}]');
SELECT cqrs.append('a0000000-0000-4000-8000-000000000002', 'Sub', -1,
       '[{"type": "Three", "data": {"n": 3}}]');

-- Nothing is readable before the sequencer has seen the commits.
SELECT count(*) FROM cqrs.poll('mailer');
SELECT cqrs.drain();

SELECT global_position, event_type, data FROM cqrs.poll('mailer', 2);
-- polling again without ack gives the same events (at-least-once)
SELECT global_position, event_type FROM cqrs.poll('mailer', 2);
SELECT cqrs.ack('mailer', 2);
SELECT global_position, event_type FROM cqrs.poll('mailer');
-- acknowledging backwards changes nothing
SELECT cqrs.ack('mailer', 1);
SELECT name, acked_position, lag_events FROM cqrs.subscription_status;

-- a rolled-back ack is not kept
BEGIN;
SELECT cqrs.ack('mailer', 3);
ROLLBACK;
SELECT acked_position FROM cqrs.subscriptions WHERE name = 'mailer';

-- errors
SELECT cqrs.ack('mailer', 99);            -- beyond the last position: 22023
SELECT cqrs.poll('nobody');               -- unknown subscription: 42704
SELECT cqrs.ack('nobody', 0);
SELECT cqrs.poll('mailer', 0);            -- 22023
SELECT cqrs.unsubscribe('mailer'), cqrs.unsubscribe('mailer');

\c :orig_db
DROP DATABASE cqrs_subscriptions;
