//! A source table's columns, and the Arrow schema their binary COPY values decode into.
//!
//! Each column's [`PgType`] gives its Arrow type ([`PgType::arrow_type`]); an unconstrained
//! `numeric` column is `Decimal128(38, s)` with `s` the largest scale its values in the read
//! have ([`TableLayout::set_numeric_scale`]). A type binary COPY to Arrow does not support is
//! refused before a byte is read, naming the table, column and type.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use tote_core::batch::ColumnSpec;
use tote_core::{Error, Result};

use crate::types::{PgType, NUMERIC_OID, UNCONSTRAINED_PRECISION};

/// A source column as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    /// Column name.
    pub name: String,
    /// Type oid.
    pub oid: u32,
    /// Type modifier (precision/scale of numeric, …; -1 when none).
    pub typmod: i32,
    /// `format_type(oid, typmod)`, e.g. `numeric(10,2)`.
    pub type_name: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// The decoding plan of a table: each column's type, and the Arrow schema they make.
#[derive(Debug, Clone)]
pub struct TableLayout {
    /// The columns, in physical order.
    pub columns: Vec<SourceColumn>,
    /// Each column's type.
    pub types: Vec<PgType>,
    /// The Arrow schema of the batches: each column's type's Arrow type, an unconstrained
    /// `numeric` at the scale its values have.
    pub schema: Arc<Schema>,
}

impl TableLayout {
    /// Plans the decoding of `table`'s columns; refuses any unsupported type.
    pub fn new(table: &str, columns: Vec<SourceColumn>) -> Result<TableLayout> {
        let mut types = Vec::with_capacity(columns.len());
        let mut fields = Vec::with_capacity(columns.len());
        for c in &columns {
            let pg_type = PgType::from_oid(c.oid, c.typmod).ok_or_else(|| {
                Error::bad_request(format!(
                    "{table}.{} has type {}, which tote cannot ingest; supported: boolean, smallint, integer, bigint, \
                     real, double precision, numeric (precision ≤ 38), text/varchar/char, json, jsonb, uuid, bytea, \
                     date, time, timestamp, timestamptz — cast it in a view or leave the table out of TOTE_TABLES",
                    c.name, c.type_name
                ))
            })?;
            fields.push(Field::new(&c.name, pg_type.arrow_type(), c.nullable));
            types.push(pg_type);
        }
        Ok(TableLayout {
            columns,
            types,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The schema as recorded in a manifest.
    pub fn column_specs(&self) -> Vec<ColumnSpec> {
        self.columns
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| ColumnSpec {
                name: c.name.clone(),
                source_type: c.type_name.clone(),
                arrow_type: f.data_type().to_string(),
                nullable: c.nullable,
            })
            .collect()
    }

    /// Positions of the `numeric` columns declared without precision and scale.
    pub fn unconstrained_numerics(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.oid == NUMERIC_OID && c.typmod < 4)
            .map(|(i, _)| i)
            .collect()
    }

    /// Stores unconstrained `numeric` column `i` with `scale` places (the values' own scale).
    pub fn set_numeric_scale(&mut self, i: usize, scale: i8) {
        let decimal = arrow::datatypes::DataType::Decimal128(UNCONSTRAINED_PRECISION, scale);
        let mut fields: Vec<Field> = self.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = fields[i].clone().with_data_type(decimal);
        self.schema = Arc::new(Schema::new(fields));
    }

    /// Stores each named unconstrained `numeric` column with its scale (names it lacks are
    /// ignored: a column dropped since the scales were found).
    pub fn set_numeric_scales(&mut self, scales: &std::collections::BTreeMap<String, i8>) {
        for (column, scale) in scales {
            if let Some(i) = self.position(column) {
                self.set_numeric_scale(i, *scale);
            }
        }
    }

    /// Position of a column by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}
