-- fact_purchase_order: one row per new source version of a purchase order.
SELECT
    purchase_order_id,
    CAST(created_at AS DATE) AS created_date,
    CAST(created_at AS TIME) AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    CAST(last_updated AS TIME) AS last_updated_time,
    staff_id,
    counterparty_id,
    item_code,
    item_quantity,
    item_unit_price,
    currency_id,
    CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
    CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
    agreed_delivery_location_id
FROM purchase_order__changes
