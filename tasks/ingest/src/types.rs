//! Postgres column types → Arrow types, exactly.
//!
//! Each supported source type has one Arrow representation that loses nothing: integers stay
//! integers, `numeric` becomes a 128-bit decimal (its declared precision and scale, or
//! for an unconstrained column `Decimal128(38, s)` with `s` the largest scale its values in the
//! read have), timestamps keep microseconds (so milliseconds are
//! always kept) and stay naive unless the source says `timestamptz`. Anything else is refused
//! before a byte is read, naming the table, column and type.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tote_core::batch::ColumnSpec;
use tote_core::{Error, Result};

/// The type oid of `numeric`.
pub const NUMERIC_OID: u32 = 1700;

/// Precision of the decimal an unconstrained `numeric` column is stored as.
pub const UNCONSTRAINED_PRECISION: u8 = 38;
/// Scale of the decimal an unconstrained `numeric` column is stored as before ingest learns the
/// scale its values have ([`TableLayout::set_numeric_scale`]): kept when no value says otherwise.
pub const UNCONSTRAINED_SCALE: i8 = 10;

/// How one column's binary COPY values are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `boolean`
    Bool,
    /// `smallint`
    Int16,
    /// `integer`
    Int32,
    /// `bigint`
    Int64,
    /// `real`
    Float32,
    /// `double precision`
    Float64,
    /// `numeric(p, s)` or unconstrained, as Decimal128 with this precision and scale.
    Numeric {
        /// Decimal precision.
        precision: u8,
        /// Decimal scale.
        scale: i8,
    },
    /// `text`, `varchar`, `char`, `name`
    Text,
    /// `json` (text on the wire)
    Json,
    /// `jsonb` (a version byte, then text)
    Jsonb,
    /// `uuid`, stored as its canonical text
    Uuid,
    /// `bytea`
    Bytes,
    /// `date`
    Date,
    /// `time without time zone`
    Time,
    /// `timestamp without time zone`: naive
    Timestamp,
    /// `timestamp with time zone`: UTC
    TimestampTz,
}

impl Kind {
    /// The kind for a Postgres type oid and modifier, if supported.
    pub fn from_oid(oid: u32, typmod: i32) -> Option<Kind> {
        Some(match oid {
            16 => Kind::Bool,
            21 => Kind::Int16,
            23 => Kind::Int32,
            20 => Kind::Int64,
            700 => Kind::Float32,
            701 => Kind::Float64,
            NUMERIC_OID => {
                if typmod >= 4 {
                    let t = typmod - 4;
                    let precision = ((t >> 16) & 0xffff) as u8;
                    let scale = (t & 0xffff) as i16;
                    if precision == 0 || precision > 38 || !(0..=38).contains(&scale) {
                        return None;
                    }
                    Kind::Numeric {
                        precision,
                        scale: scale as i8,
                    }
                } else {
                    Kind::Numeric {
                        precision: UNCONSTRAINED_PRECISION,
                        scale: UNCONSTRAINED_SCALE,
                    }
                }
            }
            25 | 1043 | 1042 | 19 => Kind::Text,
            114 => Kind::Json,
            3802 => Kind::Jsonb,
            2950 => Kind::Uuid,
            17 => Kind::Bytes,
            1082 => Kind::Date,
            1083 => Kind::Time,
            1114 => Kind::Timestamp,
            1184 => Kind::TimestampTz,
            _ => return None,
        })
    }

    /// The Arrow type values of this kind are stored as.
    pub fn arrow_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
            Kind::Text | Kind::Json | Kind::Jsonb | Kind::Uuid => DataType::Utf8,
            Kind::Bytes => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Time => DataType::Time64(TimeUnit::Microsecond),
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

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

/// The decoding plan of a table: each column's kind, and the Arrow schema they make.
#[derive(Debug, Clone)]
pub struct TableLayout {
    /// The columns, in physical order.
    pub columns: Vec<SourceColumn>,
    /// Each column's kind.
    pub kinds: Vec<Kind>,
    /// The Arrow schema of the batches.
    pub schema: Arc<Schema>,
}

impl TableLayout {
    /// Plans the decoding of `table`'s columns; refuses any unsupported type.
    pub fn new(table: &str, columns: Vec<SourceColumn>) -> Result<TableLayout> {
        let mut kinds = Vec::with_capacity(columns.len());
        let mut fields = Vec::with_capacity(columns.len());
        for c in &columns {
            let kind = Kind::from_oid(c.oid, c.typmod).ok_or_else(|| {
                Error::bad_request(format!(
                    "{table}.{} has type {}, which tote cannot ingest; supported: boolean, smallint, integer, bigint, \
                     real, double precision, numeric (precision ≤ 38), text/varchar/char, json, jsonb, uuid, bytea, \
                     date, time, timestamp, timestamptz — cast it in a view or leave the table out of TOTE_TABLES",
                    c.name, c.type_name
                ))
            })?;
            fields.push(Field::new(&c.name, kind.arrow_type(), c.nullable));
            kinds.push(kind);
        }
        Ok(TableLayout {
            columns,
            kinds,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The schema as recorded in a manifest.
    pub fn column_specs(&self) -> Vec<ColumnSpec> {
        self.columns
            .iter()
            .zip(&self.kinds)
            .map(|(c, k)| ColumnSpec {
                name: c.name.clone(),
                source_type: c.type_name.clone(),
                arrow_type: k.arrow_type().to_string(),
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
        let kind = Kind::Numeric {
            precision: UNCONSTRAINED_PRECISION,
            scale,
        };
        self.kinds[i] = kind;
        let mut fields: Vec<Field> = self.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = fields[i].clone().with_data_type(kind.arrow_type());
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
