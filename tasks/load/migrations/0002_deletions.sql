-- 0002: deletions, and the source's current state.
--
-- The warehouse never deletes: every star table keeps every version it was given. A row
-- deleted at the source is recorded in `deletion` instead, with when the ingest found it
-- gone (the source's clock), and schema `current` has one view per star table, with the same
-- name and columns, holding exactly the source's current state: the dimension rows whose source
-- row exists, and the latest version of each fact whose source row exists. A key that comes back
-- later (a new version under the same id) is current again; its deletion stays, as history,
-- with the processed batch that restored it. The views name the star tables unqualified, so they
-- bind to the schema the star tables were created in (the migrating session's search_path).

CREATE TABLE deletion (
    star_table   TEXT NOT NULL,
    natural_id   BIGINT NOT NULL,
    detected_at  TIMESTAMP(3) NOT NULL,
    batch_id     TEXT NOT NULL,
    batch_seq    BIGINT NOT NULL,
    restored_by  TEXT,
    PRIMARY KEY (star_table, natural_id, detected_at)
);
COMMENT ON TABLE deletion IS 'Rows deleted at the source: the star table, the natural id, when the ingest found it gone (source clock), the processed batch that recorded it and its position in the model''s log, and the batch that brought the id back (NULL while it stays deleted).';

-- The deletions still in force, which the current views and the load look up.
CREATE INDEX deletion_in_force ON deletion (star_table, natural_id) WHERE restored_by IS NULL;

ALTER TABLE tote.load_ledger ADD COLUMN rows_deleted BIGINT NOT NULL DEFAULT 0;

CREATE SCHEMA current;
COMMENT ON SCHEMA current IS 'The source''s current state, one view per star table: what was deleted at the source is absent; public keeps the full history.';

CREATE VIEW current.dim_date AS SELECT d.* FROM dim_date d;

CREATE VIEW current.dim_staff AS
SELECT d.* FROM dim_staff d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_staff' AND x.natural_id = d.staff_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_location AS
SELECT d.* FROM dim_location d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_location' AND x.natural_id = d.location_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_currency AS
SELECT d.* FROM dim_currency d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_currency' AND x.natural_id = d.currency_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_design AS
SELECT d.* FROM dim_design d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_design' AND x.natural_id = d.design_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_counterparty AS
SELECT d.* FROM dim_counterparty d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_counterparty' AND x.natural_id = d.counterparty_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_payment_type AS
SELECT d.* FROM dim_payment_type d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_payment_type' AND x.natural_id = d.payment_type_id AND x.restored_by IS NULL
);

CREATE VIEW current.dim_transaction AS
SELECT d.* FROM dim_transaction d
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'dim_transaction' AND x.natural_id = d.transaction_id AND x.restored_by IS NULL
);

CREATE VIEW current.fact_sales_order AS
SELECT DISTINCT ON (f.sales_order_id) f.* FROM fact_sales_order f
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'fact_sales_order' AND x.natural_id = f.sales_order_id AND x.restored_by IS NULL
)
ORDER BY f.sales_order_id, f.last_updated_date DESC, f.last_updated_time DESC, f.sales_record_id DESC;

CREATE VIEW current.fact_purchase_order AS
SELECT DISTINCT ON (f.purchase_order_id) f.* FROM fact_purchase_order f
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'fact_purchase_order' AND x.natural_id = f.purchase_order_id AND x.restored_by IS NULL
)
ORDER BY f.purchase_order_id, f.last_updated_date DESC, f.last_updated_time DESC, f.purchase_record_id DESC;

CREATE VIEW current.fact_payment AS
SELECT DISTINCT ON (f.payment_id) f.* FROM fact_payment f
WHERE NOT EXISTS (
    SELECT 1 FROM deletion x
    WHERE x.star_table = 'fact_payment' AND x.natural_id = f.payment_id AND x.restored_by IS NULL
)
ORDER BY f.payment_id, f.last_updated_date DESC, f.last_updated DESC, f.payment_record_id DESC;
