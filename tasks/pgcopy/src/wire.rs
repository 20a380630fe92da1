//! Postgres's binary COPY format, as both directions use it: the ingest decodes
//! `COPY … TO STDOUT (FORMAT binary)` from the source, the load encodes
//! `COPY … FROM STDIN (FORMAT binary)` into the warehouse. The stream's framing, the epochs of
//! its dates and timestamps, and `numeric` in both directions live here, once, with round-trip
//! tests that need no database. Hand-written because the generic row codecs are an order of
//! magnitude slower (docs/benchmarks.md).

use bytes::{BufMut, BytesMut};

/// The signature a binary COPY stream starts with.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// The header of a binary COPY stream tote writes: signature, flags, header-extension length.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer of a binary COPY stream: a field count of -1.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (Postgres').
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

/// Powers of ten that fit an `i128`.
const POW10: [i128; 39] = {
    let mut p = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The display scale of a binary `numeric` (what Postgres's `scale(value)` answers): the
/// digits after the decimal point it was written with.
pub fn numeric_scale(v: &[u8]) -> std::result::Result<i16, String> {
    match v {
        [_, _, _, _, _, _, hi, lo, ..] => Ok(i16::from_be_bytes([*hi, *lo]) & 0x3fff),
        _ => Err("truncated numeric".to_string()),
    }
}

/// Converts a binary `numeric` to a decimal mantissa at `scale`, exactly, or explains why not.
pub fn numeric_to_i128(v: &[u8], precision: u8, scale: i8) -> std::result::Result<i128, String> {
    if v.len() < 8 {
        return Err("truncated numeric".to_string());
    }
    let ndigits = i16::from_be_bytes([v[0], v[1]]) as usize;
    let weight = i16::from_be_bytes([v[2], v[3]]) as i32;
    let sign = u16::from_be_bytes([v[4], v[5]]);
    if v.len() != 8 + 2 * ndigits {
        return Err("malformed numeric".to_string());
    }
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN cannot be represented as a decimal".to_string()),
        _ => return Err("infinity cannot be represented as a decimal".to_string()),
    }
    let scale = scale as i32;
    let mut m: i128 = 0;
    for i in 0..ndigits {
        let d = i16::from_be_bytes([v[8 + 2 * i], v[9 + 2 * i]]) as i128;
        if d == 0 {
            continue;
        }
        let exp = 4 * (weight - i as i32) + scale;
        let add = if exp >= 0 {
            if exp > 38 {
                return Err(overflow(precision, scale));
            }
            d.checked_mul(POW10[exp as usize])
                .ok_or_else(|| overflow(precision, scale))?
        } else {
            let p = (-exp) as usize;
            if p >= 4 || d % POW10[p] != 0 {
                return Err(format!(
                    "value has more than {scale} fractional digits; it cannot be stored as Decimal128({precision}, {scale}) without rounding"
                ));
            }
            d / POW10[p]
        };
        m = m.checked_add(add).ok_or_else(|| overflow(precision, scale))?;
    }
    if m >= POW10[precision as usize] {
        return Err(overflow(precision, scale));
    }
    Ok(if sign == 0x4000 { -m } else { m })
}

fn overflow(precision: u8, scale: i32) -> String {
    format!("value is too large for Decimal128({precision}, {scale})")
}

/// Appends `v × 10^-scale` as a Postgres binary numeric: `ndigits, weight, sign, dscale` and
/// base-10000 digits, most significant first.
pub fn put_numeric(out: &mut BytesMut, v: i128, scale: i8) {
    let (v, scale) = if scale < 0 {
        (v * 10i128.pow(scale.unsigned_abs() as u32), 0u32)
    } else {
        (v, scale as u32)
    };
    let negative = v < 0;
    let abs = v.unsigned_abs();
    let pow = 10u128.pow(scale);
    let (mut int_part, frac) = (abs / pow, abs % pow);

    let mut int_groups = Vec::new();
    while int_part > 0 {
        int_groups.push((int_part % 10_000) as i16);
        int_part /= 10_000;
    }
    int_groups.reverse();
    let mut digits = int_groups.clone();
    let mut weight = int_groups.len() as i32 - 1;
    // Fraction groups: digits [4i, 4i+4) after the point, padded with zeros on the right.
    let frac_groups = scale.div_ceil(4);
    for i in 0..frac_groups {
        let end = 4 * (i + 1);
        let group = if scale >= end {
            (frac / 10u128.pow(scale - end)) % 10_000
        } else {
            (frac % 10u128.pow(scale - 4 * i)) * 10u128.pow(end - scale)
        };
        digits.push(group as i16);
    }
    // Strip leading zero groups (each moves the weight down) and trailing ones.
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    out.put_i32(8 + 2 * digits.len() as i32);
    out.put_i16(digits.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative && !digits.is_empty() { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for d in digits {
        out.put_i16(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&ndigits.to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    /// The encoder's output without its length prefix.
    fn encoded(v: i128, scale: i8) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_numeric(&mut out, v, scale);
        out[4..].to_vec()
    }

    #[test]
    fn numerics_convert_exactly() {
        // 12345.67 = [1, 2345, 6700] weight 1
        let v = numeric(3, 1, 0, 2, &[1, 2345, 6700]);
        assert_eq!(numeric_to_i128(&v, 10, 2), Ok(1_234_567));
        assert_eq!(numeric_to_i128(&v, 38, 10), Ok(123_456_700_000_000));
        // -0.05 = [500] weight -1
        let v = numeric(1, -1, 0x4000, 2, &[500]);
        assert_eq!(numeric_to_i128(&v, 10, 2), Ok(-5));
        // zero has no digits
        assert_eq!(numeric_to_i128(&numeric(0, 0, 0, 0, &[]), 10, 2), Ok(0));
    }

    #[test]
    fn numerics_that_do_not_fit_are_refused_not_rounded() {
        // 0.001 at scale 2
        let v = numeric(1, -1, 0, 3, &[10]);
        assert!(numeric_to_i128(&v, 10, 2)
            .unwrap_err()
            .contains("fractional digits"));
        // 10^40
        let v = numeric(1, 10, 0, 0, &[1]);
        assert!(numeric_to_i128(&v, 38, 0).unwrap_err().contains("too large"));
        // 1000.00 in numeric(5,2)
        let v = numeric(1, 0, 0, 2, &[1000]);
        assert!(numeric_to_i128(&v, 5, 2).unwrap_err().contains("too large"));
        assert!(numeric_to_i128(&numeric(0, 0, 0xC000, 0, &[]), 38, 10)
            .unwrap_err()
            .contains("NaN"));
    }

    /// What the load encodes, the ingest decodes to the same value at the same scale, for
    /// values on both sides of the base-10000 group boundaries, signs and scales 0 to 12.
    #[test]
    fn numerics_round_trip_through_the_wire_format() {
        let values: [i128; 12] = [
            0,
            1,
            -1,
            9_999,
            10_000,
            -10_001,
            123_456_789,
            23_559_918,
            99_999_999_999_999,
            -1_000_000_000_000_000_000,
            i64::MAX as i128,
            10i128.pow(37) - 1,
        ];
        for scale in 0..=12i8 {
            for v in values {
                let wire = encoded(v, scale);
                assert_eq!(numeric_to_i128(&wire, 38, scale), Ok(v), "{v} at scale {scale}");
                let dscale = i16::from_be_bytes([wire[6], wire[7]]);
                assert_eq!(dscale, scale as i16, "{v}: the scale travels with the value");
            }
        }
    }

    #[test]
    fn the_epochs_are_2000_01_01() {
        let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        let days = epoch.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        assert_eq!(days.num_days(), i64::from(PG_EPOCH_DAYS));
        assert_eq!(days.num_microseconds(), Some(PG_EPOCH_MICROS));
    }
}
