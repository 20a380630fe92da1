//! Integration tests of `tote`: the deployed definition run locally against a real Postgres,
//! with redrive after failures, and the command line's exit status and output (the chain harness
//! and the oracle are in `tote-testkit`).

mod it {
    mod aws;
    pub mod cli;
    mod pipeline;
    mod report;
}
