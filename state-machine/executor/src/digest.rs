//! The five digests `States.Hash` accepts: MD5, SHA-1, SHA-256, SHA-384 and SHA-512, from the
//! RustCrypto crates (`md-5`, `sha1`, `sha2`), as lowercase hex. Tested against the published
//! test vectors.

use sha2::Digest;

/// A digest algorithm `States.Hash` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, 128 bits.
    Md5,
    /// SHA-1, 160 bits.
    Sha1,
    /// SHA-256, 256 bits.
    Sha256,
    /// SHA-384, 384 bits.
    Sha384,
    /// SHA-512, 512 bits.
    Sha512,
}

impl Algorithm {
    /// Parses the algorithm name as `States.Hash` spells it (`MD5`, `SHA-1`, `SHA-256`,
    /// `SHA-384`, `SHA-512`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "MD5" => Some(Algorithm::Md5),
            "SHA-1" => Some(Algorithm::Sha1),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-384" => Some(Algorithm::Sha384),
            "SHA-512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Hashes `data`, returning the digest as lowercase hex.
    pub fn hex_digest(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(md5::Md5::digest(data)),
            Algorithm::Sha1 => hex::encode(sha1::Sha1::digest(data)),
            Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(data)),
            Algorithm::Sha384 => hex::encode(sha2::Sha384::digest(data)),
            Algorithm::Sha512 => hex::encode(sha2::Sha512::digest(data)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_rfc1321_vectors() {
        let md5 = |s: &str| Algorithm::Md5.hex_digest(s.as_bytes());
        assert_eq!(md5(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5("a"), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(md5("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
        assert_eq!(
            md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn sha_fips_vectors() {
        let abc = b"abc";
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            Algorithm::Sha1.hex_digest(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            Algorithm::Sha1.hex_digest(abc),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            Algorithm::Sha1.hex_digest(long),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            Algorithm::Sha256.hex_digest(abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Algorithm::Sha256.hex_digest(long),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            Algorithm::Sha384.hex_digest(abc),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            Algorithm::Sha512.hex_digest(abc),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            Algorithm::Sha512.hex_digest(b""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
    }

    #[test]
    fn block_boundaries() {
        // 55, 56 and 64 bytes straddle the padding boundary of the 64-byte-block digests.
        let sha256_55 = Algorithm::Sha256.hex_digest(&[b'a'; 55]);
        let sha256_56 = Algorithm::Sha256.hex_digest(&[b'a'; 56]);
        assert_eq!(
            sha256_55,
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"
        );
        assert_eq!(
            sha256_56,
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
        );
        assert_eq!(
            Algorithm::Md5.hex_digest(&[b'a'; 64]),
            "014842d480b571495a4a0363793f7367"
        );
    }
}
