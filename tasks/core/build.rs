//! Embeds the built-in models (`tasks/transform/models`) in tote-core, so every binary and Lambda
//! image carries them, and a model file added there is built in with no change to Rust.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let models = manifest_dir.join("../transform/models");
    // A directory is scanned whole: an added, changed or removed model file rebuilds the list.
    println!("cargo:rerun-if-changed={}", models.display());
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&models)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", models.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            (name.ends_with(".sql") || name.ends_with(".toml")).then_some((name, path))
        })
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for (name, path) in files {
        let path = path.canonicalize().expect("an existing file");
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push(']');
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("built_in_models.rs"), out).expect("OUT_DIR is writable");
}
