-- fact_sales_order: one row per new source version of a sales order; date and time split
-- (milliseconds kept), 'YYYY-MM-DD' strings turned into dates, money exact at 2 places.
SELECT
    sales_order_id,
    CAST(created_at AS DATE) AS created_date,
    CAST(created_at AS TIME) AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    CAST(last_updated AS TIME) AS last_updated_time,
    staff_id AS sales_staff_id,
    counterparty_id,
    units_sold,
    CAST(unit_price AS DECIMAL(10, 2)) AS unit_price,
    currency_id,
    design_id,
    CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
    CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
    agreed_delivery_location_id
FROM sales_order__changes
