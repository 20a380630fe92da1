-- dim_design: the latest version of every design that changed.
SELECT design_id, design_name, file_location, file_name
FROM design__latest
