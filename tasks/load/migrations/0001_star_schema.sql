-- 0001: the warehouse of SPEC.md §2 — three stars, eleven tables — and the load ledger.
--
-- Dimensions are keyed by the source's natural id and keep the latest values (SCD type 1).
-- Facts keep every source version: a SERIAL record id, and a unique key on
-- (natural id, last_updated date, last_updated time) so that one version can never land twice.
-- Foreign keys are real, so dimensions load before facts.

CREATE TABLE dim_date (
    date_id      DATE PRIMARY KEY,
    year         INT NOT NULL,
    month        INT NOT NULL,
    day          INT NOT NULL,
    day_of_week  INT NOT NULL,
    day_name     VARCHAR NOT NULL,
    month_name   VARCHAR NOT NULL,
    quarter      INT NOT NULL
);

CREATE TABLE dim_staff (
    staff_id         INT PRIMARY KEY,
    first_name       VARCHAR NOT NULL,
    last_name        VARCHAR NOT NULL,
    department_name  VARCHAR NOT NULL,
    location         VARCHAR NOT NULL,
    email_address    VARCHAR NOT NULL
);

CREATE TABLE dim_location (
    location_id     INT PRIMARY KEY,
    address_line_1  VARCHAR NOT NULL,
    address_line_2  VARCHAR,
    district        VARCHAR,
    city            VARCHAR NOT NULL,
    postal_code     VARCHAR NOT NULL,
    country         VARCHAR NOT NULL,
    phone           VARCHAR NOT NULL
);

CREATE TABLE dim_currency (
    currency_id    INT PRIMARY KEY,
    currency_code  VARCHAR NOT NULL,
    currency_name  VARCHAR NOT NULL
);

CREATE TABLE dim_design (
    design_id      INT PRIMARY KEY,
    design_name    VARCHAR NOT NULL,
    file_location  VARCHAR NOT NULL,
    file_name      VARCHAR NOT NULL
);

CREATE TABLE dim_counterparty (
    counterparty_id                     INT PRIMARY KEY,
    counterparty_legal_name             VARCHAR NOT NULL,
    counterparty_legal_address_line_1   VARCHAR NOT NULL,
    counterparty_legal_address_line_2   VARCHAR,
    counterparty_legal_district         VARCHAR,
    counterparty_legal_city             VARCHAR NOT NULL,
    counterparty_legal_postal_code      VARCHAR NOT NULL,
    counterparty_legal_country          VARCHAR NOT NULL,
    counterparty_legal_phone_number     VARCHAR NOT NULL
);

CREATE TABLE dim_payment_type (
    payment_type_id    INT PRIMARY KEY,
    payment_type_name  VARCHAR NOT NULL
);

CREATE TABLE dim_transaction (
    transaction_id     INT PRIMARY KEY,
    transaction_type   VARCHAR NOT NULL,
    sales_order_id     INT,
    purchase_order_id  INT
);

CREATE TABLE fact_sales_order (
    sales_record_id              SERIAL PRIMARY KEY,
    sales_order_id               INT NOT NULL,
    created_date                 DATE NOT NULL REFERENCES dim_date,
    created_time                 TIME(3) NOT NULL,
    last_updated_date            DATE NOT NULL REFERENCES dim_date,
    last_updated_time            TIME(3) NOT NULL,
    sales_staff_id               INT NOT NULL REFERENCES dim_staff,
    counterparty_id              INT NOT NULL REFERENCES dim_counterparty,
    units_sold                   INT NOT NULL,
    unit_price                   NUMERIC(10, 2) NOT NULL,
    currency_id                  INT NOT NULL REFERENCES dim_currency,
    design_id                    INT NOT NULL REFERENCES dim_design,
    agreed_payment_date          DATE NOT NULL REFERENCES dim_date,
    agreed_delivery_date         DATE NOT NULL REFERENCES dim_date,
    agreed_delivery_location_id  INT NOT NULL REFERENCES dim_location,
    CONSTRAINT fact_sales_order_version UNIQUE (sales_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_purchase_order (
    purchase_record_id           SERIAL PRIMARY KEY,
    purchase_order_id            INT NOT NULL,
    created_date                 DATE NOT NULL REFERENCES dim_date,
    created_time                 TIME(3) NOT NULL,
    last_updated_date            DATE NOT NULL REFERENCES dim_date,
    last_updated_time            TIME(3) NOT NULL,
    staff_id                     INT NOT NULL REFERENCES dim_staff,
    counterparty_id              INT NOT NULL REFERENCES dim_counterparty,
    item_code                    VARCHAR NOT NULL,
    item_quantity                INT NOT NULL,
    item_unit_price              NUMERIC NOT NULL,
    currency_id                  INT NOT NULL REFERENCES dim_currency,
    agreed_delivery_date         DATE NOT NULL REFERENCES dim_date,
    agreed_payment_date          DATE NOT NULL REFERENCES dim_date,
    agreed_delivery_location_id  INT NOT NULL REFERENCES dim_location,
    CONSTRAINT fact_purchase_order_version UNIQUE (purchase_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_payment (
    payment_record_id  SERIAL PRIMARY KEY,
    payment_id         INT NOT NULL,
    created_date       DATE NOT NULL REFERENCES dim_date,
    created_time       TIME(3) NOT NULL,
    last_updated_date  DATE NOT NULL REFERENCES dim_date,
    last_updated       TIME(3) NOT NULL,
    transaction_id     INT NOT NULL REFERENCES dim_transaction,
    counterparty_id    INT NOT NULL REFERENCES dim_counterparty,
    payment_amount     NUMERIC NOT NULL,
    currency_id        INT NOT NULL REFERENCES dim_currency,
    payment_type_id    INT NOT NULL REFERENCES dim_payment_type,
    paid               BOOLEAN NOT NULL,
    payment_date       DATE NOT NULL REFERENCES dim_date,
    CONSTRAINT fact_payment_version UNIQUE (payment_id, last_updated_date, last_updated)
);

-- The load ledger: one row per processed batch loaded, written in the same transaction as the
-- batch's rows. A batch in the ledger is never loaded again.
CREATE TABLE tote.load_ledger (
    batch_id       TEXT PRIMARY KEY,
    model          TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    rows_staged    BIGINT NOT NULL,
    rows_inserted  BIGINT NOT NULL,
    rows_updated   BIGINT NOT NULL,
    rows_skipped   BIGINT NOT NULL,
    execution      TEXT,
    loaded_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (model, seq)
);
