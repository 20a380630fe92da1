-- dim_location as the source has it now: every address.
SELECT address_id AS location_id, address_line_1, address_line_2, district, city, postal_code,
       country, phone
FROM address
