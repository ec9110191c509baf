-- Payments (CQRS without event sourcing, domain.md section 5): the table is
-- the state of ThirdPartyProcessorPayment; the payment commands change it
-- and append PaymentInitiated / PaymentCompleted / PaymentRejected to the
-- payment's stream (type ThirdPartyProcessorPayment) in the same
-- transaction.  Change payments only through the commands.
CREATE TABLE conference.payments (
    id uuid NOT NULL,
    state text NOT NULL,
    payment_source_id uuid NOT NULL,
    description text NOT NULL DEFAULT '',
    total_amount numeric(18,2) NOT NULL,
    initiated_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    CONSTRAINT payments_state_check
        CHECK (state IN ('initiated', 'accepted', 'completed', 'rejected')),
    CONSTRAINT payments_total_amount_check CHECK (total_amount >= 0)
);

CREATE INDEX payments_payment_source_id_idx
    ON conference.payments (payment_source_id);

COMMENT ON TABLE conference.payments IS
    'ThirdPartyProcessorPayment write model (CQRS without ES); written by the payment commands only';
COMMENT ON COLUMN conference.payments.payment_source_id IS 'The order being paid';

CREATE TABLE conference.payment_items (
    id uuid NOT NULL,
    payment_id uuid NOT NULL,
    position integer NOT NULL,
    description text NOT NULL DEFAULT '',
    amount numeric(18,2) NOT NULL,
    CONSTRAINT payment_items_pkey PRIMARY KEY (id),
    CONSTRAINT payment_items_payment_id_fkey FOREIGN KEY (payment_id)
        REFERENCES conference.payments (id),
    CONSTRAINT payment_items_position_key UNIQUE (payment_id, position)
);

COMMENT ON TABLE conference.payment_items IS
    'Items of a payment (ThidPartyProcessorPaymentItems in the reference)';

SELECT pg_catalog.pg_extension_config_dump('conference.payments', '');
SELECT pg_catalog.pg_extension_config_dump('conference.payment_items', '');

-- The pricing service's rounding (.NET Math.Round: half to even).
CREATE FUNCTION conference.round_half_even(value numeric, scale integer DEFAULT 2)
    RETURNS numeric
    AS 'MODULE_PATHNAME', 'cqrs_round_half_even'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION conference.round_half_even(numeric, integer) IS
    'Round half to even (banker''s rounding), as the pricing service does for line totals';
