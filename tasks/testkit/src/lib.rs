//! What tote's tests share, in one dev-only crate: the test Postgres and its databases, the local
//! AWS-protocol server, the independent oracle and the whole-chain harness.
//!
//! | module | what | needs |
//! |---|---|---|
//! | [`postgres`] | a fresh database per test on one private server (or `TOTE_TEST_PG`) | Postgres server binaries |
//! | [`moto`] | a fresh S3 bucket on the moto server `scripts/test` starts | `TOTE_TEST_MOTO` |
//! | [`oracle`] | the expected star schema, computed with plain SQL from the ToteSys tables | |
//! | [`chain`] | a seeded source, an empty warehouse and two stores, driven stage by stage | feature `chain` |
//!
//! Never a dependency of a shipped crate: the CLI keeps only what `tote postgres` needs
//! (`tote_private_pg`).

pub mod moto;
pub mod oracle;
pub mod postgres;

#[cfg(feature = "chain")]
pub mod chain;
