-- Payments (domain.md section 5): CQRS without event sourcing.  The table
-- is the state; the events go to the payment's stream in the same
-- transaction.
\set QUIET on
\i sql/cmd_helpers.inc
\set QUIET off

SELECT t_send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('4f1'), 'paymentSourceId', t_uuid('4d1'), 'conferenceId', t_uuid('4c0'),
       'description', 'Registration for Contoso', 'totalAmount', 237.50,
       'items', jsonb_build_array(
           jsonb_build_object('description', '3 x Workshop', 'amount', 37.5),
           jsonb_build_object('description', '2 x General', 'amount', 200))));
SELECT t_short(id::text) AS id, state, t_short(payment_source_id::text) AS order_id,
       description, total_amount FROM conference.payments WHERE id = t_uuid('4f1');
SELECT position, description, amount FROM conference.payment_items
 WHERE payment_id = t_uuid('4f1') ORDER BY position;
SELECT stream_type, event_type FROM cqrs.events WHERE stream_id = t_uuid('4f1');

-- The same payment again (another command): rejected.
SELECT t_send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('4f1'), 'paymentSourceId', t_uuid('4d1'),
       'description', 'again', 'totalAmount', 1));

-- Complete: PaymentCompleted; from Completed neither Complete nor Cancel.
SELECT t_send('CompleteThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f1')));
SELECT t_send('CompleteThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f1')));
SELECT t_send('CancelThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f1')));
SELECT state FROM conference.payments WHERE id = t_uuid('4f1');

-- Cancel an initiated payment: PaymentRejected, state rejected.
SELECT t_send('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('4f2'), 'paymentSourceId', t_uuid('4d2'),
       'description', 'Second', 'totalAmount', 10));
SELECT t_send('CancelThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f2')));
SELECT t_send('CompleteThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f2')));
SELECT state FROM conference.payments WHERE id = t_uuid('4f2');

-- A missing payment: Complete and Cancel are no-ops.
SELECT t_send('CompleteThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f9')));
SELECT t_send('CancelThirdPartyProcessorPayment', jsonb_build_object('paymentId', t_uuid('4f9')));

-- Payload errors.
SELECT t_error('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('4f3'), 'paymentSourceId', t_uuid('4d3'), 'totalAmount', -1));
SELECT t_error('InitiateThirdPartyProcessorPayment', jsonb_build_object(
       'paymentId', t_uuid('4f3'), 'paymentSourceId', t_uuid('4d3'), 'totalAmount', 1,
       'items', jsonb_build_array(jsonb_build_object('description', 'x'))));
SELECT t_error('CompleteThirdPartyProcessorPayment', '{}');

-- The payment's stream folds readably.
SELECT t_short((cqrs.load(t_uuid('4f1'))->'state')::text);
SELECT t_short((cqrs.load(t_uuid('4f2'))->'state')::text);
