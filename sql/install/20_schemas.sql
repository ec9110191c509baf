-- The conference domain's schema (design.md section 6).  Its objects are
-- created by the parts that follow.
CREATE SCHEMA conference;
COMMENT ON SCHEMA conference IS 'The Contoso conference domain: management tables, payments, read models';
