-- fact_payment: one row per new source version of a payment; account numbers are dropped.
-- `last_updated` holds the time of day, as the warehouse ERD names it.
SELECT
    payment_id,
    CAST(created_at AS DATE) AS created_date,
    CAST(created_at AS TIME) AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    CAST(last_updated AS TIME) AS last_updated,
    transaction_id,
    counterparty_id,
    payment_amount,
    currency_id,
    payment_type_id,
    paid,
    CAST(payment_date AS DATE) AS payment_date
FROM payment__changes
