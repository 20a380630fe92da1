//! Postgres types as binary COPY carries them, and the Arrow types they map to.
//!
//! One vocabulary for both directions: the ingest knows a source column by its type oid and
//! modifier (`pg_attribute.atttypid`, `atttypmod`), the load a warehouse column by its type name
//! and modifier (`pg_type.typname`, `atttypmod`); both come to a [`PgType`], whose Arrow type loses
//! nothing: integers stay integers, `numeric` is a 128-bit decimal, timestamps keep microseconds
//! and stay naive unless the type is `timestamptz`.

use arrow::datatypes::{DataType, TimeUnit};

/// The type oid of `numeric`.
pub const NUMERIC_OID: u32 = 1700;

/// Precision of the decimal an unconstrained `numeric` is stored as.
pub const UNCONSTRAINED_PRECISION: u8 = 38;
/// Scale of the decimal an unconstrained `numeric` is stored as until its values say otherwise
/// (the ingest learns the scale its values have: [`crate::layout::TableLayout::set_numeric_scale`]).
pub const UNCONSTRAINED_SCALE: i8 = 10;

/// A Postgres type binary COPY can carry to or from Arrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    /// `boolean`
    Bool,
    /// `smallint`
    Int2,
    /// `integer`
    Int4,
    /// `bigint`
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `numeric(precision, scale)`, or unconstrained (`None`).
    Numeric(Option<(u8, i8)>),
    /// `text`, `varchar`, `char`, `name`
    Text,
    /// `json` (text on the wire)
    Json,
    /// `jsonb` (a version byte, then text)
    Jsonb,
    /// `uuid`, stored as its canonical text
    Uuid,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `time without time zone`
    Time,
    /// `timestamp without time zone`: naive
    Timestamp,
    /// `timestamp with time zone`: UTC
    TimestampTz,
}

/// The `(precision, scale)` a `numeric` type modifier declares; `None` for an unconstrained
/// `numeric` (modifier -1), or one no 128-bit decimal holds (precision above 38, or a scale
/// outside 0..=38).
pub fn numeric_typmod(typmod: i32) -> Option<(u8, i8)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    let scale = (t & 0xffff) as i16;
    if precision == 0 || precision > 38 || !(0..=38).contains(&scale) {
        return None;
    }
    Some((precision as u8, scale as i8))
}

impl PgType {
    /// The type with oid `oid` and modifier `typmod`, if binary COPY to Arrow supports it. A
    /// `numeric` whose modifier declares more than a 128-bit decimal holds is unsupported.
    pub fn from_oid(oid: u32, typmod: i32) -> Option<PgType> {
        Some(match oid {
            16 => PgType::Bool,
            21 => PgType::Int2,
            23 => PgType::Int4,
            20 => PgType::Int8,
            700 => PgType::Float4,
            701 => PgType::Float8,
            NUMERIC_OID if typmod < 4 => PgType::Numeric(None),
            NUMERIC_OID => PgType::Numeric(Some(numeric_typmod(typmod)?)),
            25 | 1043 | 1042 | 19 => PgType::Text,
            114 => PgType::Json,
            3802 => PgType::Jsonb,
            2950 => PgType::Uuid,
            17 => PgType::Bytea,
            1082 => PgType::Date,
            1083 => PgType::Time,
            1114 => PgType::Timestamp,
            1184 => PgType::TimestampTz,
            _ => return None,
        })
    }

    /// The type named `typname` (`pg_type.typname`: `int4`, `varchar`, …) with modifier `typmod`,
    /// if supported.
    pub fn from_name(typname: &str, typmod: i32) -> Option<PgType> {
        Some(match typname {
            "bool" => PgType::Bool,
            "int2" => PgType::Int2,
            "int4" => PgType::Int4,
            "int8" => PgType::Int8,
            "float4" => PgType::Float4,
            "float8" => PgType::Float8,
            "numeric" if typmod < 4 => PgType::Numeric(None),
            "numeric" => PgType::Numeric(Some(numeric_typmod(typmod)?)),
            "text" | "varchar" | "bpchar" | "name" => PgType::Text,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "uuid" => PgType::Uuid,
            "bytea" => PgType::Bytea,
            "date" => PgType::Date,
            "time" => PgType::Time,
            "timestamp" => PgType::Timestamp,
            "timestamptz" => PgType::TimestampTz,
            _ => return None,
        })
    }

    /// The Arrow type values of this type are stored as; an unconstrained `numeric` as
    /// `Decimal128(38, UNCONSTRAINED_SCALE)` until its scale is known.
    pub fn arrow_type(self) -> DataType {
        match self {
            PgType::Bool => DataType::Boolean,
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Numeric(Some((precision, scale))) => DataType::Decimal128(precision, scale),
            PgType::Numeric(None) => DataType::Decimal128(UNCONSTRAINED_PRECISION, UNCONSTRAINED_SCALE),
            PgType::Text | PgType::Json | PgType::Jsonb | PgType::Uuid => DataType::Utf8,
            PgType::Bytea => DataType::Binary,
            PgType::Date => DataType::Date32,
            PgType::Time => DataType::Time64(TimeUnit::Microsecond),
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `numeric(p, s)`'s modifier, as Postgres computes it.
    fn typmod(precision: i32, scale: i32) -> i32 {
        ((precision << 16) | scale) + 4
    }

    #[test]
    fn an_oid_and_a_name_with_the_same_modifier_are_the_same_type() {
        let pairs = [
            (16, "bool"),
            (21, "int2"),
            (23, "int4"),
            (20, "int8"),
            (701, "float8"),
            (25, "text"),
            (1043, "varchar"),
            (1082, "date"),
            (1083, "time"),
            (1114, "timestamp"),
            (1184, "timestamptz"),
            (2950, "uuid"),
        ];
        for (oid, name) in pairs {
            assert_eq!(PgType::from_oid(oid, -1), PgType::from_name(name, -1), "{name}");
            assert!(PgType::from_oid(oid, -1).is_some(), "{name}");
        }
        assert_eq!(
            PgType::from_oid(NUMERIC_OID, typmod(10, 2)),
            Some(PgType::Numeric(Some((10, 2))))
        );
        assert_eq!(
            PgType::from_name("numeric", typmod(10, 2)),
            PgType::from_oid(NUMERIC_OID, typmod(10, 2))
        );
        assert_eq!(PgType::from_name("numeric", -1), Some(PgType::Numeric(None)));
    }

    #[test]
    fn a_numeric_no_decimal_holds_and_an_unknown_type_are_unsupported() {
        assert_eq!(PgType::from_oid(NUMERIC_OID, typmod(60, 2)), None);
        assert_eq!(PgType::from_name("numeric", typmod(60, 2)), None);
        assert_eq!(PgType::from_oid(600, -1), None, "point");
        assert_eq!(PgType::from_name("point", -1), None);
        assert_eq!(
            PgType::Numeric(None).arrow_type(),
            DataType::Decimal128(UNCONSTRAINED_PRECISION, UNCONSTRAINED_SCALE)
        );
    }
}
