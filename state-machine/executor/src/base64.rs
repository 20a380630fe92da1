//! Standard Base64 (RFC 4648 section 4, with `=` padding), for `States.Base64Encode` and
//! `States.Base64Decode`, from the `base64` crate: encoded with padding; decoded with or without
//! it, and anything that is not Base64 (including whitespace) is an error.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// The standard alphabet, padding written, padding optional when read.
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as padded standard Base64.
pub fn encode(input: &[u8]) -> String {
    STANDARD.encode(input)
}

/// Decodes standard Base64, padded or not.
pub fn decode(input: &str) -> Result<Vec<u8>, String> {
    STANDARD.decode(input).map_err(|e| format!("not Base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Data to encode", "RGF0YSB0byBlbmNvZGU="),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        assert!(decode("Zm9v!").is_err());
        assert!(decode("Z").is_err());
        assert!(decode("Zg===").is_err());
    }

    #[test]
    fn all_bytes_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
    }
}
