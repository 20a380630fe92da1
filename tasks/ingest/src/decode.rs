//! The source's binary COPY stream decoded into Arrow record batches on a task of its own, as
//! the binary COPY format crate implements it (`tote_pgcopy::decode`).

pub use tote_pgcopy::decode::{CopyDecoder, Decoded, Decoding, ObservedScale, RowKey, Stopped};
