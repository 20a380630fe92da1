//! The `tote` command. See `tote --help`.
fn main() {}
