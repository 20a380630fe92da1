//! AWS-protocol services for tests: a bucket on the local moto server that
//! `scripts/test` starts (`TOTE_TEST_MOTO`).

/// Points the AWS environment of this process at moto and creates a fresh bucket there; returns
/// its name. Panics with what to do when moto is not running.
pub fn bucket(prefix: &str) -> String {
    let url = std::env::var("TOTE_TEST_MOTO")
        .expect("TOTE_TEST_MOTO is not set: run scripts/test, which starts moto_server");
    // Process-wide, but nextest runs every test in a process of its own.
    std::env::set_var("AWS_ENDPOINT_URL", &url);
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "eu-west-2");
    std::env::set_var("AWS_DEFAULT_REGION", "eu-west-2");
    let micros = std::time::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let bucket = format!("{prefix}-{}-{micros}", std::process::id());
    let python = std::env::var("TOTE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='eu-west-2').create_bucket(\
             Bucket=sys.argv[2], CreateBucketConfiguration={'LocationConstraint': 'eu-west-2'})",
            &url,
            &bucket,
        ])
        .status()
        .expect("python with boto3 (scripts/test installs it with moto)");
    assert!(status.success(), "could not create bucket {bucket} in moto");
    bucket
}
