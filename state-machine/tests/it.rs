//! Integration tests of `tote`: the deployed definition run locally against a real Postgres,
//! with redrive after failures, and the command line's exit status and output.

mod it {
    // The transform's independent oracle and the load tests' chain, shared rather than copied.
    #[path = "../../../tasks/load/tests/it/common.rs"]
    #[allow(dead_code)]
    pub mod common;
    #[path = "../../../tasks/transform/tests/it/oracle.rs"]
    #[allow(dead_code)]
    pub mod oracle;

    mod aws;
    mod cli;
    mod pipeline;
}
