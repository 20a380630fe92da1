-- dim_currency as the source has it now (the ISO name is the transform's own: not compared).
SELECT currency_id, currency_code FROM currency
